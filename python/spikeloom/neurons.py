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
