"""Store-recall task (LSNN / e-prop lineage, Bellec et al. 2018; Salaj et al. 2021), generated offline.

A trial is ``n_slots`` slots of ``slot`` seconds. Input channels: 4 groups of ``group_size``: ``store``,
``recall``, ``bit0``, ``bit1``. In every slot but the last a random bit is shown (its group fires Poisson
at ``rate`` Hz during the slot); in one random slot (uniform over the first ``n_slots - 1``) the store group
fires too: that bit is the one to remember; the other bits are distractors. In the last slot the recall
group fires and the network must report the stored bit (label 0 or 1) -- the loss is evaluated there
(``loss_steps``). The store-to-recall delay is thus 1 to ``n_slots - 1`` slots. A background of
``noise_rate`` Hz on every channel is optional (default 0). Poisson spikes are Bernoulli(``rate * dt``)
per step.
"""

from __future__ import annotations

import numpy as np

from .. import _validation as v
from ..errors import InvalidParameterError
from .base import SequenceDataset, Split, steps_for

GROUPS = ("store", "recall", "bit0", "bit1")


def _sample(n: int, rng: np.random.Generator, n_slots: int, slot_steps: int, g: int, p: float, p_noise: float) -> Split:
    steps = n_slots * slot_steps
    x = rng.random((n, steps, 4 * g)) < p_noise
    bits = rng.integers(0, 2, size=(n, n_slots - 1))
    store = rng.integers(0, n_slots - 1, size=n)
    for k in range(n_slots - 1):
        sl = slice(k * slot_steps, (k + 1) * slot_steps)
        fire = rng.random((n, slot_steps, g)) < p
        for b in (0, 1):
            sel = bits[:, k] == b
            x[sel, sl, (2 + b) * g : (3 + b) * g] |= fire[sel]
        sel = store == k
        x[sel, sl, 0:g] |= rng.random((int(sel.sum()), slot_steps, g)) < p
    last = slice((n_slots - 1) * slot_steps, steps)
    x[:, last, g : 2 * g] |= rng.random((n, slot_steps, g)) < p
    y = bits[np.arange(n), store].astype(np.int64)
    return Split(x, y)


def store_recall(
    n_train: int = 2048,
    n_validation: int = 256,
    n_test: int = 256,
    seed: int = 0,
    dt: float = 1e-3,
    *,
    n_slots: int = 6,
    slot: float = 0.2,
    rate: float = 50.0,
    noise_rate: float = 0.0,
    group_size: int = 10,
) -> SequenceDataset:
    """The store-recall task (see the module docstring): ``x`` bool ``[n, n_slots * slot / dt, 4 *
    group_size]``, labels in {0, 1}, ``loss_steps`` = the last (recall) slot. Times in seconds, rates in Hz."""
    slots = v.positive_int("n_slots", n_slots)
    if slots < 2:
        raise InvalidParameterError(f"n_slots: expected at least 2 (a store slot and the recall slot), got {slots}")
    dt = v.positive("dt", dt)
    slot_steps = steps_for("slot", v.positive("slot", slot), dt)
    g = v.positive_int("group_size", group_size)
    p, p_noise = v.non_negative("rate", rate) * dt, v.non_negative("noise_rate", noise_rate) * dt
    if p > 1 or p_noise > 1:
        raise InvalidParameterError(f"rate: expected rate * dt <= 1, got {rate} and {noise_rate} Hz * {dt} s")
    sizes = [
        v.positive_int(name, size, 0)
        for name, size in (("n_train", n_train), ("n_validation", n_validation), ("n_test", n_test))
    ]
    streams = np.random.SeedSequence(v.seed("seed", seed)).spawn(3)
    train, validation, test = (
        _sample(size, np.random.default_rng(s), slots, slot_steps, g, p, p_noise)
        for size, s in zip(sizes, streams, strict=True)
    )
    steps = slots * slot_steps
    return SequenceDataset(
        name="store_recall",
        train=train,
        validation=validation,
        test=test,
        n_classes=2,
        dt=float(dt),
        loss_steps=np.arange(steps - slot_steps, steps, dtype=np.int64),
    )
