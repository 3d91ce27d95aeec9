"""Neuron models (parameters only; the dynamics live in the Rust core)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import _validation as v
from .errors import UnsupportedError


@dataclass(frozen=True)
class LIF:
    """Current-based leaky integrate-and-fire neuron with exponential synapses.

    ``du/dt = -u / tau_mem + I / tau_syn``, ``tau_syn dI/dt = -I``, ``I += w`` at each input spike;
    spike when ``u`` reaches ``v_th``. Weights and ``v_th`` are dimensionless (leak potential 0).
    The exact single-spike engine supports ``tau_mem == tau_syn`` (Lambert W closed form) and
    ``tau_mem == 2 * tau_syn`` (quadratic closed form).

    Args:
        tau_mem: membrane time constant, seconds.
        tau_syn: synaptic current time constant, seconds.
        v_th: firing threshold (dimensionless).
    """

    tau_mem: float = 5e-3
    tau_syn: float = 5e-3
    v_th: float = 1.0

    def __post_init__(self) -> None:
        v.positive("tau_mem", self.tau_mem)
        v.positive("tau_syn", self.tau_syn)
        v.positive("v_th", self.v_th)
        ratio = self.tau_mem / self.tau_syn
        if not (math.isclose(ratio, 1.0, rel_tol=1e-9) or math.isclose(ratio, 2.0, rel_tol=1e-9)):
            raise UnsupportedError(
                f"tau_mem / tau_syn: expected tau_mem = tau_syn (Lambert W solver) or tau_mem = 2 * tau_syn "
                f"(quadratic solver), got {self.tau_mem} / {self.tau_syn} = {ratio:.6g}"
            )


@dataclass(frozen=True)
class Alpha:
    """Neuron with alpha-shaped post-synaptic potentials (Comsa et al. 2020), no leak, one spike.

    ``V(t) = sum_i w_i ((t - t_i) / time_unit) exp(-(t - t_i) / tau)`` over inputs ``t_i < t``; spike when
    ``V`` reaches ``v_th``. ``time_unit`` is the unit the paper's numbers are written in (its times, its
    threshold and its decay rate ``K = time_unit / tau``); all arguments here are in seconds. This is the
    :class:`LIF` neuron with ``tau_mem = tau_syn = tau`` and threshold ``v_th * time_unit / tau`` (see
    :meth:`lif`), so it runs on the same exact solver.

    Args:
        tau: decay time constant (1 / K), seconds.
        v_th: threshold in units of weight x ``time_unit`` (the paper's ``fire_threshold``).
        time_unit: the paper's unit of time, seconds. Default: ``tau`` (K = 1).
    """

    tau: float = 1e-3
    v_th: float = 1.0
    time_unit: float = None  # type: ignore[assignment]  # None -> tau

    def __post_init__(self) -> None:
        tau = v.positive("tau", self.tau)
        v.positive("v_th", self.v_th)
        if self.time_unit is None:
            object.__setattr__(self, "time_unit", tau)
        unit = v.positive("time_unit", self.time_unit)
        if not (math.isfinite(self.v_th * unit / tau) and self.v_th * unit / tau > 0):
            raise UnsupportedError(
                f"v_th * time_unit / tau: expected a finite positive LIF threshold, got {self.v_th} * {unit} / {tau}"
            )

    @classmethod
    def from_decay_rate(cls, decay_rate: float, v_th: float, time_unit: float) -> Alpha:
        """The paper's parameterisation: ``K = decay_rate`` per ``time_unit`` (seconds), ``tau = time_unit / K``."""
        k = v.positive("decay_rate", decay_rate)
        unit = v.positive("time_unit", time_unit)
        return cls(tau=unit / k, v_th=v_th, time_unit=unit)

    @property
    def decay_rate(self) -> float:
        """K in units of 1 / ``time_unit``."""
        return self.time_unit / self.tau

    def lif(self) -> LIF:
        """The equivalent LIF neuron (same spike times and derivatives)."""
        return LIF(tau_mem=self.tau, tau_syn=self.tau, v_th=self.v_th * self.time_unit / self.tau)
