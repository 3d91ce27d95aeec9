"""Low-level exact solvers, for embedding spikeloom in other pipelines.

Example: a PyTorch autograd function around one exact layer::

    class ExactLayer(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t_in, w):
            t, dt_dw, dt_dx = spikeloom.ttfs.layer_spike_times(t_in.numpy(), w.numpy(), 5e-3, 5e-3, 1.0)
            ctx.save_for_backward(torch.from_numpy(dt_dw), torch.from_numpy(dt_dx))
            return torch.from_numpy(t)

        @staticmethod
        def backward(ctx, g):
            dt_dw, dt_dx = ctx.saved_tensors
            g = torch.nan_to_num(g, posinf=0.0)
            return torch.einsum("bo,boi->bi", g, dt_dx), torch.einsum("bo,boi->oi", g, dt_dw)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from . import _validation as v
from .errors import NonFiniteError, ShapeError
from .neurons import LIF


def layer_spike_times(
    times: Any,
    weights: Any,
    tau_mem: float,
    tau_syn: float,
    v_th: float = 1.0,
    threads: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact first-spike times of one layer of LIF neurons and their exact derivatives.

    Args:
        times: input spike times, shape (samples, n_in), seconds; ``inf`` = no spike.
        weights: weights, shape (n_out, n_in), dimensionless.
        tau_mem: membrane time constant, seconds (must equal tau_syn or 2 tau_syn).
        tau_syn: synaptic time constant, seconds.
        v_th: threshold (dimensionless).
        threads: worker threads (0 = all cores).

    Returns:
        ``(t_out, dt_dw, dt_dx)``: output times (samples, n_out) in seconds (``inf`` = silent);
        ``dt_dw[b, k, i] = d t_out[b, k] / d weights[k, i]`` (seconds); ``dt_dx[b, k, i] =
        d t_out[b, k] / d times[b, i]`` (dimensionless). Derivatives are 0 for silent neurons and for
        inputs after the output spike (not causal).
    """
    LIF(tau_mem, tau_syn, v_th)  # validates, names the argument
    x = v.spike_times("times", times)
    if x.shape[1] == 0:
        raise ShapeError(f"times: expected at least one input column, got shape {x.shape}")
    w = v.float_matrix("weights", weights, x.shape[1])
    if w.shape[0] == 0:
        raise ShapeError(f"weights: expected at least one output row, got shape {w.shape}")
    if not np.isfinite(w).all():
        raise NonFiniteError("weights: expected finite values, got NaN or inf")
    return _core.layer_spike_times(x, w, tau_mem, tau_syn, v_th, v.threads(threads))


def lambert_w0(z: Any) -> np.ndarray:
    """Principal branch of the Lambert W function (float64, elementwise); NaN below -1/e."""
    arr = np.ascontiguousarray(np.asarray(z, dtype=np.float64).ravel())
    return _core.lambert_w0(arr).reshape(np.shape(z))
