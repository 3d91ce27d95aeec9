"""Target signals of Nicola & Clopath (2017)'s FORCE experiments, generated offline.

Each ``make_*`` function returns a target: a callable mapping times ``t`` (s, 1-D array) to values of
shape ``(len(t), k)``. Periodic targets are closed forms; the van der Pol and Lorenz targets are
integrated once with fine-step RK4 over ``duration`` seconds and interpolated linearly (as the
reference scripts interpolate ``ode45`` output onto the simulation grid).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import _validation as v
from ..errors import InvalidParameterError

Target = Callable[[np.ndarray], np.ndarray]

#: The first bar (16 quarter-note slots) of Ode to Joy, notes C..G as channels 0..4, with the dotted
#: E + eighth D of the last measure quantised to two quarters and the closing D a half note:
#: E E F G | G F E D | C C D E | E D D- .
ODE_TO_JOY_NOTES = "EEFGGFEDCCDEEDD"
_CHANNEL = {"C": 0, "D": 1, "E": 2, "F": 3, "G": 4}


def _times(t: np.ndarray) -> np.ndarray:
    arr = np.asarray(t, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidParameterError(f"t: expected a 1-D array of times (s), got shape {arr.shape}")
    return arr


def make_sine(freq: float = 5.0, amplitude: float = 1.0) -> Target:
    """``amplitude sin(2 pi freq t)`` (freq in Hz); k = 1."""
    f, a = v.positive("freq", freq), float(amplitude)
    return lambda t: a * np.sin(2 * np.pi * f * _times(t))[:, None]


def make_product_of_sines(f1: float = 4.0, f2: float = 6.0) -> Target:
    """``sin(2 pi f1 t) sin(2 pi f2 t)`` (Hz); k = 1 (THETAPRODSINES)."""
    a, b = v.positive("f1", f1), v.positive("f2", f2)
    return lambda t: (np.sin(2 * np.pi * a * _times(t)) * np.sin(2 * np.pi * b * _times(t)))[:, None]


def make_sawtooth(freq: float = 5.0) -> Target:
    """A sawtooth rising linearly from -1 to 1 once per period ``1 / freq`` (Hz); k = 1."""
    f = v.positive("freq", freq)
    return lambda t: (2.0 * np.mod(f * _times(t), 1.0) - 1.0)[:, None]


def _rk4(f: Callable[[np.ndarray], np.ndarray], y0: np.ndarray, h: float, steps: int) -> np.ndarray:
    out = np.empty((steps + 1, y0.size))
    y = y0.astype(np.float64).copy()
    out[0] = y
    for i in range(steps):
        k1 = f(y)
        k2 = f(y + 0.5 * h * k1)
        k3 = f(y + 0.5 * h * k2)
        k4 = f(y + h * k3)
        y = y + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        out[i + 1] = y
    return out


def _interpolated(traj: np.ndarray, h: float) -> Target:
    grid = np.arange(traj.shape[0]) * h

    def target(t: np.ndarray) -> np.ndarray:
        tt = _times(t)
        if tt.size and (tt.min() < 0 or tt.max() > grid[-1] + 1e-12):
            raise InvalidParameterError(
                f"t: expected times in [0, {grid[-1]:.6g}] s (the integrated span), got [{tt.min()}, {tt.max()}]"
            )
        return np.stack([np.interp(tt, grid, traj[:, c]) for c in range(traj.shape[1])], axis=1)

    return target


def make_van_der_pol(
    duration: float, *, mu: float = 5.0, md: float = 10.0, tc: float = 20.0, fine_dt: float = 1e-4
) -> Target:
    """The reference's van der Pol oscillator (2-D, k = 2)::

        dy1/dt = tc mu (y1 - md^2 y1^3 / 3 - y2) ,  dy2/dt = tc y1 / mu

    (``mu`` 5: relaxation; ``md`` scales space, ``tc`` time). Integrated from (0.1, 0.1) for ``duration``
    seconds to reach the limit cycle, then again from there over ``[0, duration]`` with RK4 steps of
    ``fine_dt`` seconds."""
    T, h = v.positive("duration", duration), v.positive("fine_dt", fine_dt)
    m, s, c = v.positive("mu", mu), v.positive("md", md), v.positive("tc", tc)

    def f(y: np.ndarray) -> np.ndarray:
        return np.array([tc * m * (y[0] - s * s * y[0] ** 3 / 3.0 - y[1]), c * y[0] / m])

    steps = int(np.ceil(T / h))
    warm = _rk4(f, np.array([0.1, 0.1]), h, steps)
    return _interpolated(_rk4(f, warm[-1], h, steps), h)


def make_lorenz(
    duration: float,
    *,
    sigma: float = 10.0,
    rho: float = 28.0,
    beta: float = 8.0 / 3.0,
    md: float = 70.0,
    tc: float = 1.0,
    fine_dt: float = 1e-4,
) -> Target:
    """The reference's scaled Lorenz system (3-D, k = 3; THETALORENZ uses md 70, tc 1)::

        dx/dt = tc sigma (y - x) ,  dy/dt = tc (rho x - md x z - y) ,  dz/dt = tc (md x y - beta z)

    (``x = X / md`` etc. of the standard system), RK4 from (0.1, 0.1, 0.1) over ``duration`` s."""
    T, h = v.positive("duration", duration), v.positive("fine_dt", fine_dt)
    M, C = v.positive("md", md), v.positive("tc", tc)

    def f(y: np.ndarray) -> np.ndarray:
        return C * np.array([sigma * (y[1] - y[0]), rho * y[0] - M * y[0] * y[2] - y[1], M * y[0] * y[1] - beta * y[2]])

    return _interpolated(_rk4(f, np.array([0.1, 0.1, 0.1]), h, int(np.ceil(T / h))), h)


def ode_to_joy_score() -> tuple[np.ndarray, np.ndarray]:
    """The first bar of Ode to Joy as the reference's ``J`` (16 slots x 5 notes, 1 = note sounds in
    that quarter-note slot) and ``HN`` (16 flags: a half note starts in that slot and spans two)."""
    J = np.zeros((16, 5))
    HN = np.zeros(16, dtype=bool)
    for slot, note in enumerate(ODE_TO_JOY_NOTES):
        J[slot, _CHANNEL[note]] = 1.0
    J[15] = J[14]  # the closing half note D covers slots 14 and 15
    HN[14] = True
    return J, HN


def make_ode_to_joy(notes_per_second: float = 4.0) -> Target:
    """The first bar of Ode to Joy as 5 note channels (C, D, E, F, G), repeated every 16 slots of
    ``1 / notes_per_second`` seconds: a quarter note is a positive half-sine bump ``sin(pi s / q)`` over
    its slot (``q`` the slot length, ``s`` the time into it), a half note one bump over two slots; k = 5."""
    f = v.positive("notes_per_second", notes_per_second)
    J, HN = ode_to_joy_score()
    q = 1.0 / f

    def target(t: np.ndarray) -> np.ndarray:
        tt = np.mod(_times(t), 16 * q)
        slot = np.minimum((tt / q).astype(np.int64), 15)
        s = tt - slot * q
        out = J[slot] * np.sin(np.pi * s / q)[:, None]
        for start in np.flatnonzero(HN):
            inside = (slot == start) | (slot == start + 1)
            ch = np.flatnonzero(J[start])
            out[np.ix_(inside, ch)] = np.sin(np.pi * (tt[inside] - start * q) / (2 * q))[:, None]
        return out

    return target


__all__ = [
    "ODE_TO_JOY_NOTES",
    "Target",
    "make_lorenz",
    "make_ode_to_joy",
    "make_product_of_sines",
    "make_sawtooth",
    "make_sine",
    "make_van_der_pol",
    "ode_to_joy_score",
]
