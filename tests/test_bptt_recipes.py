"""End-to-end accuracy of the BPTT recipes on offline tasks (the issue's acceptance: >= 90 %)."""

from __future__ import annotations

import pytest
from spikeloom import cli
from spikeloom.errors import InvalidParameterError
from spikeloom.recipes import RecipeArgs, get
from spikeloom.recipes_bptt import randman_bptt


def test_randman_reaches_90_percent() -> None:
    # The recipe's network and settings on half the data (500 samples per class) and 10 epochs.
    r = randman_bptt(RecipeArgs(hidden=64, epochs=10, progress=False), samples_per_class=500)
    assert r.metrics["test_accuracy"] >= 0.90, r.metrics
    assert 5 < r.metrics["rates_hz"][0] < 500


def test_sequential_digits_reaches_90_percent() -> None:
    r = get("seqdigits", "bptt").run(RecipeArgs(progress=False))
    assert r.metrics["test_accuracy"] >= 0.90, r.metrics
    assert r.history.height == 50


def test_recipes_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name in ("randman --method bptt", "seqdigits --method bptt", "smnist --method bptt", "shd --method bptt"):
        assert name in out


def test_shd_without_data_says_how_to_get_it() -> None:
    with pytest.raises(InvalidParameterError, match="shd_train.h5"):
        get("shd", "bptt").run(RecipeArgs(progress=False))


def test_xavier_uniform_initialisation_matches_its_definition() -> None:
    import numpy as np
    import spikeloom as sl
    from spikeloom.recipes_bptt import xavier_uniform

    L = sl.SpikingLayer
    net = sl.RecurrentNetwork(4, [L.alif_yin(64), L.alif_yin(256, recurrent=False)], None, seed=0)
    xavier_uniform(net, seed=3)
    p = net.parameters()
    for name, (fan_in, fan_out) in {"layers.0.w_in": (4, 64), "layers.1.w_in": (64, 256)}.items():
        bound = np.sqrt(6 / (fan_in + fan_out))
        w = p[name]
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
        # Uniform on [-a, a]: variance a^2 / 3 (within sampling error).
        assert abs(w.var() / (bound**2 / 3) - 1) < 0.2, name
    assert not p["layers.0.w_rec"].any() and not p["layers.0.bias"].any() and not p["layers.1.bias"].any()
