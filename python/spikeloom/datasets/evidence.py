"""Evidence (cue) accumulation task of e-prop (Bellec et al. 2020), generated offline.

Timing of the reference (all defaults of :class:`EvidenceAccumulation`; times in seconds):

- 40 input channels in 4 groups of ``group_size = 10``: channels 0-9 left cue, 10-19 right cue,
  20-29 recall cue, 30-39 background noise.
- ``n_cues = 7`` cues; cue ``k`` (0-based) occupies ``[first_cue + k * cue_spacing,
  first_cue + k * cue_spacing + cue_duration)`` = ``[50 + 150 k, 150 + 150 k)`` ms. During a cue, the
  10 channels of its side fire Poisson at ``cue_rate = 40`` Hz; the other side's cue channels are silent.
- The trial lasts ``n_cues * cue_spacing + tail = 1050 + 1200 = 2250`` ms. The recall channels fire
  at ``recall_rate = 40`` Hz during the last ``recall_duration = 150`` ms ``[2100, 2250)`` ms, the
  recall window, where the loss is evaluated (:attr:`EvidenceAccumulation.recall_steps`).
- The noise channels fire at ``noise_rate = 10`` Hz during the whole trial.
- Each trial draws which side is the majority side (probability 1/2 each); each cue is then on the
  majority side with probability ``p_majority = 0.7`` (0.3 for the other side), independently.
- Label 1 ("right") if the number of right cues is more than half of the cues (> 3 of 7), else 0.

Poisson firing in discrete time: in each step of an active window each channel spikes independently
with probability ``rate * dt`` (at most one spike per step; ``rate * dt <= 1`` is required). All
window edges must be multiples of ``dt``; a window ``[t0, t1)`` covers steps ``t0 / dt .. t1 / dt - 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _validation as v
from ..errors import InvalidParameterError
from .base import SequenceDataset, Split, steps_for

#: Channel groups, in channel order.
GROUPS = ("left", "right", "recall", "noise")


def _bernoulli_process(rng: np.random.Generator, n_rows: int, n_steps: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Spikes of ``n_rows`` independent Bernoulli(p) processes over ``n_steps`` steps, as (row, step) indices.

    Drawn as geometric inter-spike gaps (the exact distribution of a Bernoulli process), which needs
    ~``n_rows * n_steps * p`` random numbers instead of ``n_rows * n_steps``.
    """
    if n_rows == 0 or n_steps == 0 or p <= 0.0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if p >= 1.0:
        rows, steps = np.meshgrid(np.arange(n_rows), np.arange(n_steps), indexing="ij")
        return rows.ravel(), steps.ravel()
    mean = n_steps * p
    width = int(mean + 8.0 * math.sqrt(mean) + 16)
    pos = np.cumsum(rng.geometric(p, size=(n_rows, width)), axis=1) - 1
    while (pos[:, -1] < n_steps).any():  # some row may still spike inside the window: draw more gaps
        more = pos[:, -1:] + np.cumsum(rng.geometric(p, size=(n_rows, width)), axis=1)
        pos = np.concatenate([pos, more], axis=1)
    rows, cols = np.nonzero(pos < n_steps)
    return rows.astype(np.int64), pos[rows, cols].astype(np.int64)


@dataclass(frozen=True)
class EvidenceAccumulation:
    """Parameters of the evidence-accumulation task (times in seconds, rates in Hz); see the module docstring."""

    dt: float = 1e-3
    n_cues: int = 7
    first_cue: float = 0.05
    cue_duration: float = 0.1
    cue_spacing: float = 0.15
    tail: float = 1.2
    recall_duration: float = 0.15
    cue_rate: float = 40.0
    recall_rate: float = 40.0
    noise_rate: float = 10.0
    p_majority: float = 0.7
    group_size: int = 10

    def __post_init__(self) -> None:
        dt = v.positive("dt", self.dt)
        n_cues = v.positive_int("n_cues", self.n_cues)
        if n_cues % 2 == 0:
            raise InvalidParameterError(f"n_cues: expected an odd number (no ties between sides), got {n_cues}")
        v.positive_int("group_size", self.group_size)
        v.non_negative("first_cue", self.first_cue)
        for name in ("cue_duration", "cue_spacing", "tail", "recall_duration"):
            v.positive(name, getattr(self, name))
        for name in ("first_cue", "cue_duration", "cue_spacing", "tail", "recall_duration"):
            steps_for(name, getattr(self, name), dt)
        for name in ("cue_rate", "recall_rate", "noise_rate"):
            rate = v.non_negative(name, getattr(self, name))
            if rate * dt > 1.0:
                raise InvalidParameterError(
                    f"{name}: expected rate * dt <= 1 (at most one spike per step), got {rate} Hz * {dt} s"
                )
        p = self.p_majority
        if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating) or not 0.0 <= p <= 1.0:
            raise InvalidParameterError(f"p_majority: expected a probability in [0, 1], got {p!r}")
        if self.cue_duration > self.cue_spacing + 1e-12:
            raise InvalidParameterError(
                f"cue_duration: expected at most cue_spacing = {self.cue_spacing} s (cues must not overlap), "
                f"got {self.cue_duration} s"
            )
        if self.cue_windows[-1, 1] > self.recall_steps[0]:
            raise InvalidParameterError(
                f"tail: the last cue ends at step {int(self.cue_windows[-1, 1])} after the recall window starts "
                f"(step {int(self.recall_steps[0])}); expected a longer tail or shorter recall_duration, "
                f"got tail = {self.tail} s"
            )

    @property
    def n_channels(self) -> int:
        """Number of input channels (4 groups)."""
        return 4 * int(self.group_size)

    @property
    def n_steps(self) -> int:
        """Steps per trial: ``(n_cues * cue_spacing + tail) / dt`` (2250 by default)."""
        return int(self.n_cues) * steps_for("cue_spacing", self.cue_spacing, self.dt) + steps_for(
            "tail", self.tail, self.dt
        )

    @property
    def cue_windows(self) -> np.ndarray:
        """int64 ``[n_cues, 2]``: first step and one-past-last step of each cue."""
        first = steps_for("first_cue", self.first_cue, self.dt)
        spacing = steps_for("cue_spacing", self.cue_spacing, self.dt)
        length = steps_for("cue_duration", self.cue_duration, self.dt)
        starts = first + spacing * np.arange(int(self.n_cues), dtype=np.int64)
        return np.stack([starts, starts + length], axis=1)

    @property
    def recall_steps(self) -> np.ndarray:
        """int64 indices of the recall-window steps (the last ``recall_duration``), where the loss is evaluated."""
        n = self.n_steps
        return np.arange(n - steps_for("recall_duration", self.recall_duration, self.dt), n, dtype=np.int64)

    def channels(self, group: str) -> np.ndarray:
        """Channel indices of a group: "left", "right", "recall" or "noise"."""
        if group not in GROUPS:
            from ..errors import UnknownNameError

            raise UnknownNameError(f"group: expected one of {list(GROUPS)}, got {group!r}")
        g = int(self.group_size)
        return np.arange(GROUPS.index(group) * g, (GROUPS.index(group) + 1) * g, dtype=np.int64)

    def sample(self, n_samples: int, seed: int = 0) -> Split:
        """``n_samples`` fresh trials: ``x`` bool ``[n_samples, n_steps, n_channels]``, ``y`` int64 in {0, 1}."""
        n = v.positive_int("n_samples", n_samples, 0)
        rng = np.random.default_rng(v.seed("seed", seed))
        g, n_cues, dt = int(self.group_size), int(self.n_cues), float(self.dt)
        majority_right = rng.random(n) < 0.5
        p_right = np.where(majority_right, self.p_majority, 1.0 - self.p_majority)
        right = rng.random((n, n_cues)) < p_right[:, None]  # side of each cue
        y = (right.sum(axis=1) > n_cues // 2).astype(np.int64)

        x = np.zeros((n, self.n_steps, self.n_channels), dtype=bool)
        windows = self.cue_windows
        rows, steps = _bernoulli_process(rng, n * n_cues * g, int(windows[0, 1] - windows[0, 0]), self.cue_rate * dt)
        s, k, c = rows // (n_cues * g), (rows // g) % n_cues, rows % g
        x[s, windows[k, 0] + steps, c + g * right[s, k]] = True
        recall = self.recall_steps
        rows, steps = _bernoulli_process(rng, n * g, len(recall), self.recall_rate * dt)
        x[rows // g, recall[0] + steps, 2 * g + rows % g] = True
        rows, steps = _bernoulli_process(rng, n * g, self.n_steps, self.noise_rate * dt)
        x[rows // g, steps, 3 * g + rows % g] = True
        return Split(x, y)


def evidence_accumulation(
    n_train: int = 2048,
    n_validation: int = 256,
    n_test: int = 256,
    seed: int = 0,
    dt: float = 1e-3,
    *,
    n_cues: int = 7,
    first_cue: float = 0.05,
    cue_duration: float = 0.1,
    cue_spacing: float = 0.15,
    tail: float = 1.2,
    recall_duration: float = 0.15,
    cue_rate: float = 40.0,
    recall_rate: float = 40.0,
    noise_rate: float = 10.0,
    p_majority: float = 0.7,
    group_size: int = 10,
) -> SequenceDataset:
    """The evidence-accumulation task with the reference timing (see the module docstring).

    Args:
        n_train, n_validation, n_test: number of trials in each split.
        seed: seed; the three splits use independent streams derived from it.
        dt: seconds per step (every window edge must be a multiple of it).
        n_cues ... group_size: task parameters (seconds, Hz, probabilities), as in :class:`EvidenceAccumulation`.

    Returns:
        A :class:`SequenceDataset` with ``x`` bool ``[n, 2250, 40]`` (defaults), labels 0 (left) / 1 (right),
        and ``loss_steps`` = the recall-window step indices (``2100 .. 2249`` with ``dt = 1 ms``).
        Memory: ``n * n_steps * n_channels`` bytes (90 kB per trial with the defaults).
    """
    task = EvidenceAccumulation(
        dt=dt,
        n_cues=n_cues,
        first_cue=first_cue,
        cue_duration=cue_duration,
        cue_spacing=cue_spacing,
        tail=tail,
        recall_duration=recall_duration,
        cue_rate=cue_rate,
        recall_rate=recall_rate,
        noise_rate=noise_rate,
        p_majority=p_majority,
        group_size=group_size,
    )
    sizes = [
        v.positive_int(name, size, 0)
        for name, size in (("n_train", n_train), ("n_validation", n_validation), ("n_test", n_test))
    ]
    streams = np.random.SeedSequence(v.seed("seed", seed)).spawn(3)
    train, validation, test = (
        task.sample(size, int(s.generate_state(2, np.uint64)[0])) for size, s in zip(sizes, streams, strict=True)
    )
    return SequenceDataset(
        name="evidence_accumulation",
        train=train,
        validation=validation,
        test=test,
        n_classes=2,
        dt=float(dt),
        loss_steps=task.recall_steps,
    )
