"""Pattern generation (e-prop, Bellec et al. 2020, supplementary; TF tutorial ``tutorial_pattern_generation``):
a recurrent network driven by *frozen* Poisson noise learns to output a fixed sum of sines.

Target (``models.sum_of_sines_target`` of the reference code): four sines with periods 1000, 500, 333 and
200 ms, amplitudes ``U(0.5, 2)`` and phases ``U(0, 2 pi)``; sine ``i`` is
``amp_i sin(linspace(phase_i, 2 pi (n_steps // period_i) + phase_i, n_steps))``; the target is their sum
minus its first value, divided by its maximum absolute value (so it lies in [-1, 1] and starts at 0).
Input: ``n_inputs`` channels of Poisson spikes at ``rate`` Hz (probability ``rate * dt`` per step), drawn
once and presented identically at every iteration.
"""

from __future__ import annotations

import numpy as np

from .. import _validation as v
from ..errors import InvalidParameterError
from .base import SequenceDataset, Split, steps_for


def sum_of_sines_target(
    n_steps: int = 1000,
    periods: tuple[float, ...] = (1.0, 0.5, 0.333, 0.2),
    dt: float = 1e-3,
    seed: int = 0,
) -> np.ndarray:
    """The reference's normalised sum-of-sines target, float32 ``[n_steps]`` (periods in seconds)."""
    n = v.positive_int("n_steps", n_steps)
    dt = v.positive("dt", dt)
    if len(periods) == 0:
        raise InvalidParameterError("periods: expected at least one period, got none")
    rng = np.random.default_rng(v.seed("seed", seed))
    total = np.zeros(n)
    for p in periods:
        steps = steps_for("periods", v.positive("periods", p), dt)
        amp = rng.uniform(0.5, 2.0)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        total += amp * np.sin(np.linspace(phase, 2.0 * np.pi * (n // steps) + phase, n))
    total -= total[0]
    m = np.abs(total).max()
    return (total / m if m > 0 else total).astype(np.float32)


def sum_of_sines(
    n_steps: int = 1000,
    n_inputs: int = 100,
    rate: float = 50.0,
    dt: float = 1e-3,
    periods: tuple[float, ...] = (1.0, 0.5, 0.333, 0.2),
    seed: int = 0,
) -> SequenceDataset:
    """The pattern-generation task: one frozen Poisson input ``x`` bool ``[1, n_steps, n_inputs]`` and its
    target ``y`` float32 ``[1, n_steps, 1]``; train, validation and test are the same single sample (the
    task is to memorise the pattern). ``rate`` in Hz, ``dt`` and ``periods`` in seconds.
    ``n_classes`` is 0 (regression)."""
    n = v.positive_int("n_steps", n_steps)
    c = v.positive_int("n_inputs", n_inputs)
    dt = v.positive("dt", dt)
    r = v.non_negative("rate", rate)
    if r * dt > 1.0:
        raise InvalidParameterError(f"rate: expected rate * dt <= 1, got {r} Hz * {dt} s")
    seeds = np.random.SeedSequence(v.seed("seed", seed)).spawn(2)
    rng = np.random.default_rng(seeds[0])
    x = rng.random((1, n, c)) < r * dt
    y = sum_of_sines_target(n, periods, dt, int(seeds[1].generate_state(1)[0]))[None, :, None]
    split = Split(x, y)
    return SequenceDataset(name="sum_of_sines", train=split, validation=split, test=split, n_classes=0, dt=float(dt))


def normalised_mse(prediction: np.ndarray, target: np.ndarray) -> float:
    """``mean((prediction - target)^2) / var(target)`` (0 = perfect, 1 = as good as the target's mean)."""
    p = np.asarray(prediction, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise InvalidParameterError(f"prediction: expected the target's shape {t.shape}, got {p.shape}")
    var = t.var()
    if var == 0:
        raise InvalidParameterError("target: expected a non-constant target (variance 0)")
    return float(((p - t) ** 2).mean() / var)
