"""Noisy Boolean logic tasks (Comsa et al. 2020, `spiking_problem.cc` of google/ihmehimmeli).

Each sample has ``n_inputs`` values. The clean value of a true input is 0.55 and of a false one 0.0;
then uniform noise U(0, 0.45) is added to every input, so false inputs lie in [0, 0.45) and true
ones in [0.55, 1.0). The label is drawn Bernoulli(0.5); the inputs are built from the task's base
pattern by flipping a random set of inputs (distinct indices, uniformly chosen):

- AND: base all true; label 1 = no flip; label 0 = k ~ U{1..n} flips.
- OR:  base all false; label 0 = no flip; label 1 = k ~ U{1..n} flips.
- XOR: base all false; label = parity of the number of flips, drawn uniformly among the even
  (label 0) or odd (label 1) counts in 0..n.

Labels are the logical value of the function (the reference code numbers the classes by "no flip /
flip"; its input distribution is reproduced, the class index is the truth value here).
"""

from __future__ import annotations

import numpy as np

from .. import _validation as v
from ..errors import UnknownNameError
from .base import Dataset, Split

TRUE_LEVEL = 0.55
NOISE = 0.45
TASKS = ("and", "or", "xor")


def _split(task: str, n: int, n_inputs: int, rng: np.random.Generator) -> Split:
    x = np.empty((n, n_inputs))
    y = np.empty(n, dtype=np.int64)
    for s in range(n):
        label = int(rng.random() < 0.5)
        if task == "and":
            base, flips = TRUE_LEVEL, (0 if label == 1 else int(rng.integers(1, n_inputs + 1)))
        elif task == "or":
            base, flips = 0.0, (0 if label == 0 else int(rng.integers(1, n_inputs + 1)))
        else:
            counts = [k for k in range(n_inputs + 1) if k % 2 == label]
            base, flips = 0.0, int(counts[int(rng.integers(len(counts)))])
        row = np.full(n_inputs, base)
        if flips:
            row[rng.choice(n_inputs, size=flips, replace=False)] = TRUE_LEVEL - base
        x[s] = row + rng.uniform(0.0, NOISE, size=n_inputs)
        y[s] = label
    return Split(x, y)


def noisy_logic(
    task: str = "xor",
    n_inputs: int = 2,
    n_train: int = 1000,
    n_validation: int = 100,
    n_test: int = 100,
    seed: int = 0,
) -> Dataset:
    """Noisy AND / OR / XOR with fresh random sets for train, validation and test.

    Args:
        task: "and", "or" or "xor".
        n_inputs: number of inputs (>= 2 for XOR to be non-trivial).
        n_train, n_validation, n_test: split sizes (the reference's defaults: 1000 / 100 / 100).
        seed: seed; the three splits use independent streams derived from it.

    Returns:
        A :class:`Dataset` with ``x`` in [0, 1) of shape (n, n_inputs) and labels in {0, 1}.
    """
    if task not in TASKS:
        raise UnknownNameError(f"task: expected one of {list(TASKS)}, got {task!r}")
    n_inputs = v.positive_int("n_inputs", n_inputs)
    sizes = [
        v.positive_int(name, n)
        for name, n in (("n_train", n_train), ("n_validation", n_validation), ("n_test", n_test))
    ]
    streams = np.random.SeedSequence(v.seed("seed", seed)).spawn(3)
    train, validation, test = (
        _split(task, n, n_inputs, np.random.default_rng(s)) for n, s in zip(sizes, streams, strict=True)
    )
    return Dataset(name=f"noisy_{task}", train=train, validation=validation, test=test, n_classes=2)
