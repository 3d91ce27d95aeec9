"""The README's Python example runs as written (with fewer epochs)."""

from __future__ import annotations

import re
from pathlib import Path

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
