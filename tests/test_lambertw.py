"""spikeloom.ttfs.lambert_w0 against scipy.special.lambertw (principal branch)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import lambertw
from spikeloom.ttfs import lambert_w0

INV_E = math.exp(-1.0)  # the double nearest 1/e (about 1.2e-17 above the true 1/e)
EPS = np.finfo(np.float64).eps


def scipy_w0(z: np.ndarray) -> np.ndarray:
    return lambertw(z, k=0).real


def test_dense_grid_away_from_branch_point():
    z = np.concatenate(
        [
            np.linspace(-INV_E + 1e-3, 0.0, 20_001),
            -np.logspace(-300, math.log10(INV_E) - 1e-3, 5_001),
            np.linspace(0.0, 10.0, 20_001),
            np.logspace(-300, 300, 30_001),
            [1e300, np.finfo(np.float64).tiny, 5e-324, -5e-324],
        ]
    )
    got = lambert_w0(z)
    ref = scipy_w0(z)
    assert np.isfinite(ref).all()
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=0)


def test_near_branch_point_within_conditioning():
    """Near -1/e, W(z) ~ -1 + p with p = sqrt(2 (1 + e z)), so an O(eps) error in e z + 1 costs O(eps / p)."""
    d = np.logspace(-16, -2, 20_001)
    z = -INV_E + d
    z = z[z > -INV_E]
    dist = z + INV_E  # exact (Sterbenz)
    got = lambert_w0(z)
    ref = scipy_w0(z)
    assert np.isfinite(ref).all()
    p = np.sqrt(2.0 * math.e * dist)
    tol = 1e-13 * np.abs(ref) + 16 * EPS / p
    assert np.all(np.abs(got - ref) <= tol), float(np.max(np.abs(got - ref) / tol))
    assert np.all(got >= -1.0)
    # Monotone non-decreasing in z, as W0 is.
    assert np.all(np.diff(got) >= 0)


def test_defining_equation():
    """w e^w == z (relative, scaled by the condition number 1 + w)."""
    z = np.concatenate([np.linspace(-0.36, 5.0, 10_001), np.logspace(-200, 200, 4_001)])
    w = lambert_w0(z)
    back = w * np.exp(w)
    tol = 1e-14 * (1.0 + np.abs(w)) * np.abs(z) + 1e-300
    assert np.all(np.abs(back - z) <= tol)


def test_branch_point_is_minus_one():
    assert lambert_w0(np.array([-INV_E]))[0] == -1.0
    assert lambert_w0(-1.0 / math.e) == -1.0


@pytest.mark.parametrize("z", [-INV_E * (1 + 1e-9), -0.368, -0.4, -1.0, -10.0, -1e300, -np.inf, np.nan], ids=str)
def test_nan_below_branch_point(z):
    assert np.isnan(lambert_w0(np.array([z]))[0])


def test_special_values_and_shapes():
    assert lambert_w0(np.array([0.0]))[0] == 0.0
    assert lambert_w0(np.array([np.inf]))[0] == np.inf
    assert lambert_w0(np.array([math.e]))[0] == pytest.approx(1.0, rel=1e-15)
    # W(1) is the omega constant.
    assert lambert_w0(np.array([1.0]))[0] == pytest.approx(0.5671432904097838, rel=1e-15)
    out = lambert_w0(np.ones((3, 4)))
    assert out.shape == (3, 4) and out.dtype == np.float64
    assert lambert_w0(np.zeros(0)).shape == (0,)
