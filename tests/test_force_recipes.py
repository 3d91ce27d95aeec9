"""The FORCE recipes are registered and run through the CLI (small reservoir)."""

from __future__ import annotations

import json

import pytest
from spikeloom import cli, recipes
from spikeloom.errors import InvalidParameterError
from spikeloom.recipes import RecipeArgs


def test_force_recipes_registered() -> None:
    found = {(r.task, r.method) for r in recipes.all_recipes()}
    assert {("sine", "force"), ("vanderpol", "force"), ("odetojoy", "force")} <= found


def test_sine_force_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["train", "sine", "--method", "force", "--hidden", "300", "--json", "--no-progress"])
    assert code == 0
    m = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert m["method"] == "force" and m["neuron"] == "lif" and m["n"] == 300
    assert m["rls_updates"] == 2000 and -1.0 <= m["test_correlation"] <= 1.0
    assert m["test_rmse"] > 0 and not m["interrupted"]


def test_sine_force_rejects_unknown_neuron() -> None:
    with pytest.raises(InvalidParameterError, match="neuron"):
        recipes.get("sine", "force").run(RecipeArgs(neuron="hodgkin", progress=False))
