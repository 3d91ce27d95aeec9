"""Random-manifold spike-timing task ("RandMan", Zenke & Vogels 2021), generated offline.

Re-derived from the published description of ``fzenke/randman``. Each class is its own smooth random
manifold: a map from a latent point ``x`` in ``[0, 1)^dim_manifold`` to ``n_units`` values. For unit ``i``
and latent dimension ``d`` a random 1-D function is built as a sum of sines with a power-law spectrum

    f_id(x_d) = sum_{k=0}^{K-1} a_idk (k + 1)^(-alpha) sin(2 pi (k x_d b_idk + c_idk)),

with ``a, b, c ~ U(0, 1)`` and ``a_id0 = 0`` (no constant term), ``K = min(ceil(1e-3^(-1/alpha)), 1000)``
(the terms whose spectral weight is below 1e-3 are dropped; 32 terms for ``alpha = 2``). The unit's value
is the product over the latent dimensions, ``f_i(x) = prod_d f_id(x_d)``. Larger ``alpha`` gives
smoother manifolds.

Each unit's values are min-max standardised to ``[0, 1]`` over the samples of its class (all splits
together), then read as the time of the unit's single spike: value ``u`` fires in step
``min(floor(u * n_steps), n_steps - 1)``, so each step covers an equal ``1 / n_steps`` slice of the
value range and ``u = 1`` goes to the last step. Every unit fires exactly once per sample, so spike
counts carry no class information: only timing does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _validation as v
from .base import SequenceDataset, Split, check_fractions, stratified_indices

#: Spectral weights ``(k + 1)^-alpha`` below this are dropped.
PRECISION = 1e-3
#: Upper bound on the number of sine terms per 1-D function.
MAX_TERMS = 1000


def _n_terms(alpha: float) -> int:
    return min(int(math.ceil(PRECISION ** (-1.0 / alpha))), MAX_TERMS)


@dataclass(frozen=True)
class RandomManifold:
    """A smooth random map from ``[0, 1)^dim_manifold`` to ``n_units`` values (one RandMan class).

    Attributes:
        amplitude, frequency, phase: the ``a``, ``b``, ``c`` coefficients, each of shape
            ``[dim_manifold, n_units, n_terms]``.
        alpha: spectral decay exponent (dimensionless).
    """

    amplitude: np.ndarray
    frequency: np.ndarray
    phase: np.ndarray
    alpha: float

    @classmethod
    def random(cls, n_units: int, dim_manifold: int, alpha: float, rng: np.random.Generator) -> RandomManifold:
        """Draw the coefficients ``a, b, c ~ U(0, 1)`` (in that order) from ``rng``; ``a`` of term 0 is zeroed."""
        n_units = v.positive_int("n_units", n_units)
        dim_manifold = v.positive_int("dim_manifold", dim_manifold)
        alpha = v.positive("alpha", alpha)
        shape = (dim_manifold, n_units, _n_terms(alpha))
        a = rng.random(shape)
        b = rng.random(shape)
        c = rng.random(shape)
        a[:, :, 0] = 0.0
        return cls(a, b, c, alpha)

    @property
    def n_units(self) -> int:
        return int(self.amplitude.shape[1])

    @property
    def dim_manifold(self) -> int:
        return int(self.amplitude.shape[0])

    def __call__(self, latent: np.ndarray) -> np.ndarray:
        """Raw (unstandardised) values ``[n_points, n_units]`` at latent points ``[n_points, dim_manifold]``."""
        x = v.float_matrix("latent", latent, self.dim_manifold)
        dim, n_units, n_terms = self.amplitude.shape
        k = np.arange(n_terms, dtype=np.float64)
        weight = self.amplitude * (k + 1.0) ** -self.alpha  # [dim, units, terms]
        out = np.ones((x.shape[0], n_units))
        chunk = max(1, (1 << 21) // (n_units * n_terms))  # bound the [chunk, units, terms] temporaries
        for start in range(0, x.shape[0], chunk):
            xs = x[start : start + chunk]
            for d in range(dim):
                arg = 2.0 * np.pi * (xs[:, d, None, None] * (k * self.frequency[d])[None] + self.phase[d][None])
                out[start : start + chunk] *= np.einsum("nut,ut->nu", np.sin(arg), weight[d])
        return out


def _standardise(values: np.ndarray) -> np.ndarray:
    """Per-unit min-max scaling of ``[n, units]`` to [0, 1] (a constant unit maps to 0)."""
    lo = values.min(axis=0)
    span = values.max(axis=0) - lo
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (values - lo) / safe, 0.0)


def spike_steps(values: np.ndarray, n_steps: int) -> np.ndarray:
    """Step index ``min(floor(u * n_steps), n_steps - 1)`` of each standardised value ``u`` in [0, 1]."""
    return np.minimum(np.floor(np.asarray(values) * n_steps), n_steps - 1).astype(np.int64)


def randman(
    n_classes: int = 10,
    n_units: int = 100,
    n_steps: int = 100,
    dim_manifold: int = 2,
    alpha: float = 2.0,
    samples_per_class: int = 1000,
    seed: int = 0,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
    dt: float = 1e-3,
) -> SequenceDataset:
    """RandMan: one spike per input unit per sample, its timing set by a class-specific random manifold.

    Args:
        n_classes: number of classes (one random manifold each).
        n_units: input channels (embedding dimension of the manifolds).
        n_steps: time steps per sample.
        dim_manifold: latent dimension of each manifold.
        alpha: smoothness (spectral decay exponent); larger is smoother.
        samples_per_class: samples per class before splitting.
        seed: seed of everything (manifolds, latent points, split); deterministic.
        validation_fraction, test_fraction: stratified, shuffled split as in :func:`digits`.
        dt: seconds per step (metadata; the task is defined in steps).

    Returns:
        A :class:`SequenceDataset` with ``x`` bool ``[n, n_steps, n_units]`` (exactly one ``True`` per
        sample and unit) and labels ``0..n_classes - 1``.
    """
    n_classes = v.positive_int("n_classes", n_classes)
    n_units = v.positive_int("n_units", n_units)
    n_steps = v.positive_int("n_steps", n_steps)
    dim_manifold = v.positive_int("dim_manifold", dim_manifold)
    alpha = v.positive("alpha", alpha)
    samples_per_class = v.positive_int("samples_per_class", samples_per_class)
    validation_fraction, test_fraction = check_fractions(validation_fraction, test_fraction)
    dt = v.positive("dt", dt)
    manifold_seeds, latent_seeds, split_seed = np.random.SeedSequence(v.seed("seed", seed)).spawn(3)

    n = n_classes * samples_per_class
    steps = np.empty((n, n_units), dtype=np.int64)
    for c, (ms, ls) in enumerate(zip(manifold_seeds.spawn(n_classes), latent_seeds.spawn(n_classes), strict=True)):
        manifold = RandomManifold.random(n_units, dim_manifold, alpha, np.random.default_rng(ms))
        latent = np.random.default_rng(ls).random((samples_per_class, dim_manifold))
        rows = slice(c * samples_per_class, (c + 1) * samples_per_class)
        steps[rows] = spike_steps(_standardise(manifold(latent)), n_steps)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), samples_per_class)

    parts = stratified_indices(y, np.random.default_rng(split_seed), validation_fraction, test_fraction)

    def split(idx: np.ndarray) -> Split:
        x = np.zeros((len(idx), n_steps, n_units), dtype=bool)
        x[np.arange(len(idx))[:, None], steps[idx], np.arange(n_units)[None, :]] = True
        return Split(x, y[idx])

    return SequenceDataset(
        name="randman",
        train=split(parts["train"]),
        validation=split(parts["validation"]),
        test=split(parts["test"]),
        n_classes=n_classes,
        dt=dt,
    )
