"""Rate-based BurstProp (Payeur et al. 2021, "deep learning" section): a multiplexed network of event-rate
/ burst-probability units trained with the burst-dependent rule, vectorised over minibatches in numpy.

Each unit of layer ``l`` has an event rate ``e_l = f(W_l e_{l-1} + c_l)`` (``f`` the logistic function:
rates normalised by their maximum) carried by somatic, short-term-depressing feedforward synapses, and a
burst probability ``p_l`` controlled by its dendrite, which receives the burst rates ``b_{l+1} = p_{l+1}
e_{l+1}`` of the layer above through short-term-facilitating feedback synapses ``Y_l``:

    p_l = sigmoid(beta h(e_l) * (Y_l b_{l+1} - Y_l b_bar_{l+1})),    h(e) = f'(f^-1(e)) / e = 1 - e

The subtracted term is the dendritic input of the prediction phase (no teacher; all ``p = p_bar = 1/2``),
cancelled by recurrent dendritic inhibition as in the paper, so burst probabilities stay in the linear
range of the sigmoid. At the output the teacher sets ``p_L = sigmoid(beta h(e_L) (y - e_L))``. The
weights then follow the burst-dependent rule, averaged over the minibatch:

    dW_l = eta ((p_l - p_bar_l) * e_l) e_{l-1}^T          (B - P_bar E: burst rate minus its prediction)

With ``beta = 4`` and symmetric feedback ``Y_l = W_{l+1}^T`` the burst-rate deviation
``(p_l - p_bar_l) e_l`` equals the backpropagated error ``-dL/da_l`` of the squared loss
``L = |y - e_L|^2 / 2`` to first order in the error (checked by the tests); away from that limit the
sigmoids bound the burst probabilities, as in the spiking network. Feedback weights are ``"symmetric"``
(``Y_l = W_{l+1}^T``), ``"fixed"`` random (feedback alignment) or ``"learned"`` (Kolen-Pollack-style: ``Y``
receives the transposed update of ``W`` and both decay, so ``Y_l -> W_{l+1}^T``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from . import _validation as v
from .errors import InvalidParameterError, NonFiniteError, ShapeError

Feedback = Literal["symmetric", "fixed", "learned"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass
class BurstPropConfig:
    """Training settings.

    Attributes:
        epochs: passes over the training set.
        batch_size: minibatch size.
        lr: learning rate ``eta`` of the burst-dependent updates (per minibatch average).
        momentum: heavy-ball momentum of the updates (0 = plain rule).
        beta: dendritic gain. 4 is unit gain of the burst-probability sigmoid at p = 1/2 (exact backprop
            in the small-error limit); 2 doubles its linear range (the burst-rate deviations are then
            about half the backprop errors per layer, which ``lr`` absorbs) and learns faster here.
        weight_decay: L2 decay of forward (and learned feedback) weights per update.
        lr_decay: multiplicative learning-rate decay per epoch.
    """

    epochs: int = 20
    batch_size: int = 20
    lr: float = 2.0
    momentum: float = 0.0
    beta: float = 2.0
    weight_decay: float = 0.0
    lr_decay: float = 0.95


@dataclass
class BurstPropResult:
    """History of :meth:`BurstPropNetwork.fit`: one row per epoch."""

    history: list[dict[str, float]] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0


class BurstPropNetwork:
    """Feedforward network of event-rate / burst-probability units trained by BurstProp.

    Args:
        sizes: layer sizes, input first (e.g. ``[784, 500, 10]``).
        feedback: ``"symmetric"``, ``"fixed"`` or ``"learned"`` feedback weights.
        seed: initialisation seed.
        dtype: float type of weights and rates (``np.float32`` halves the cost on large data sets).
    """

    def __init__(
        self, sizes: Sequence[int], feedback: Feedback = "symmetric", seed: int = 0, dtype: type = np.float64
    ) -> None:
        if len(sizes) < 2:
            raise InvalidParameterError(f"sizes: expected at least 2 layer sizes, got {list(sizes)}")
        self.sizes = [v.positive_int(f"sizes[{k}]", s) for k, s in enumerate(sizes)]
        if feedback not in ("symmetric", "fixed", "learned"):
            raise InvalidParameterError(f"feedback: expected 'symmetric', 'fixed' or 'learned', got {feedback!r}")
        self.feedback: Feedback = feedback
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise InvalidParameterError(f"dtype: expected float32 or float64, got {self.dtype}")
        rng = np.random.default_rng(v.seed("seed", seed))
        self.W: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.Y: list[np.ndarray] = []
        for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            # N(0, 1/fan_in): pre-activations of order 1, so no unit starts saturated
            self.W.append(rng.normal(0.0, 1.0 / math.sqrt(a), (b, a)).astype(self.dtype))
            self.c.append(np.zeros(b, dtype=self.dtype))
        # Y[l] carries layer l+1's bursts to layer l's dendrites (l = 1 .. L-1), shape (n_l, n_{l+1}).
        for k in range(1, len(self.W)):
            shape = self.W[k].T.shape
            if feedback == "symmetric":
                self.Y.append(self.W[k].T.copy())
            else:
                self.Y.append(rng.normal(0.0, 1.0 / math.sqrt(shape[1]), shape).astype(self.dtype))

    # -- dynamics ------------------------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Event rates of every layer (input first), shape ``(batch, n_l)``."""
        e = [x]
        for W, c in zip(self.W, self.c, strict=True):
            e.append(_sigmoid(e[-1] @ W.T + c))
        return e

    def burst_deviations(self, e: list[np.ndarray], y: np.ndarray, beta: float) -> list[np.ndarray]:
        """Burst-rate deviations ``(p_l - p_bar_l) e_l`` of layers 1..L under the teacher ``y`` (targets in
        [0, 1], shape ``(batch, n_L)``), top-down through the feedback weights."""
        L = len(self.W)
        fb = [W.T for W in self.W[1:]] if self.feedback == "symmetric" else self.Y
        dev: list[np.ndarray] = [np.empty(0)] * L
        eL = e[L]
        p = _sigmoid(beta * (1.0 - eL) * (y - eL))
        dev[L - 1] = (p - 0.5) * eL
        for k in range(L - 2, -1, -1):
            el = e[k + 1]
            # dendritic input relative to the prediction phase: Y (b - b_bar) = Y ((p - 1/2) e)
            u = dev[k + 1] @ fb[k].T
            p = _sigmoid(beta * (1.0 - el) * u)
            dev[k] = (p - 0.5) * el
        return dev

    def updates(self, x: np.ndarray, y: np.ndarray, beta: float = 4.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Burst-dependent weight and bias changes (per unit learning rate), minibatch means:
        ``dW_l = mean_batch(((p_l - p_bar_l) e_l) e_{l-1}^T)``."""
        e = self.forward(x)
        dev = self.burst_deviations(e, y, beta)
        n = x.shape[0]
        dW = [d.T @ e[k] / n for k, d in enumerate(dev)]
        dc = [d.mean(axis=0) for d in dev]
        return dW, dc

    def backprop_updates(self, x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Exact negative gradients of the squared loss ``|y - e_L|^2 / 2`` (minibatch mean), for comparison."""
        e = self.forward(x)
        L = len(self.W)
        delta = (y - e[L]) * e[L] * (1.0 - e[L])
        dW: list[np.ndarray] = [np.empty(0)] * L
        dc: list[np.ndarray] = [np.empty(0)] * L
        for k in range(L - 1, -1, -1):
            dW[k] = delta.T @ e[k] / x.shape[0]
            dc[k] = delta.mean(axis=0)
            if k:
                delta = (delta @ self.W[k]) * e[k] * (1.0 - e[k])
        return dW, dc

    # -- training ------------------------------------------------------------------------------------
    def predict(self, x: np.ndarray, batch_size: int = 2000) -> np.ndarray:
        """Class = output unit with the highest event rate."""
        x = np.asarray(x, dtype=self.dtype)
        return np.concatenate([self.forward(x[i : i + batch_size])[-1].argmax(1) for i in range(0, len(x), batch_size)])

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(x) == np.asarray(y)))

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        config: BurstPropConfig | None = None,
        *,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        seed: int = 0,
        progress: bool = True,
        callback: Callable[[dict[str, float]], None] | None = None,
    ) -> BurstPropResult:
        """Train on ``x`` (samples, inputs in [0, 1]) and integer labels ``y`` (one-hot targets 0/1 on the
        output event rates). Ctrl-C stops cleanly after the current minibatch."""
        cfg = config or BurstPropConfig()
        x = np.asarray(x, dtype=self.dtype)
        y = np.asarray(y)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ShapeError(f"x: expected shape (samples, {self.sizes[0]}), got {x.shape}")
        if (
            y.shape != (x.shape[0],)
            or y.dtype.kind not in "iu"
            or (y.size and (y.min() < 0 or y.max() >= self.sizes[-1]))
        ):
            raise InvalidParameterError(
                f"y: expected {x.shape[0]} integer labels in [0, {self.sizes[-1]}), got shape {y.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise NonFiniteError("x: expected finite inputs, got NaN or inf")
        v.positive_int("epochs", cfg.epochs, 0)
        v.positive_int("batch_size", cfg.batch_size)
        v.positive("lr", cfg.lr)
        v.positive("beta", cfg.beta)
        v.non_negative("weight_decay", cfg.weight_decay)
        v.positive("lr_decay", cfg.lr_decay)
        if not 0.0 <= v.non_negative("momentum", cfg.momentum) < 1.0:
            raise InvalidParameterError(f"momentum: expected a value in [0, 1), got {cfg.momentum!r}")
        rng = np.random.default_rng(v.seed("seed", seed))
        targets = np.eye(self.sizes[-1], dtype=self.dtype)[y]
        vW = [np.zeros_like(W) for W in self.W]
        vc = [np.zeros_like(c) for c in self.c]
        res = BurstPropResult()
        t0 = time.perf_counter()
        lr = cfg.lr
        try:
            for epoch in range(cfg.epochs):
                order = rng.permutation(len(x))
                for i in range(0, len(x), cfg.batch_size):
                    idx = order[i : i + cfg.batch_size]
                    dW, dc = self.updates(x[idx], targets[idx], cfg.beta)
                    for k in range(len(self.W)):
                        vW[k] = cfg.momentum * vW[k] + dW[k]
                        vc[k] = cfg.momentum * vc[k] + dc[k]
                        self.W[k] += lr * vW[k] - cfg.weight_decay * self.W[k]
                        self.c[k] += lr * vc[k]
                        if self.feedback == "learned" and k >= 1:
                            self.Y[k - 1] += lr * vW[k].T - cfg.weight_decay * self.Y[k - 1]
                lr *= cfg.lr_decay
                if not all(np.all(np.isfinite(a)) for a in [*self.W, *self.c, *self.Y]):
                    raise NonFiniteError(
                        f"lr: expected training to keep the weights finite, got NaN or inf after epoch {epoch + 1} "
                        f"(lower lr = {cfg.lr} or beta = {cfg.beta})"
                    )
                row = {"epoch": float(epoch + 1), "train_accuracy": self.accuracy(x[:10000], y[:10000])}
                if validation is not None and len(validation[1]):
                    row["val_accuracy"] = self.accuracy(*validation)
                if self.feedback != "symmetric":
                    row["feedback_angle_deg"] = self.feedback_angle()
                row["seconds"] = time.perf_counter() - t0
                res.history.append(row)
                if callback is not None:
                    callback(row)
                if progress:
                    print("[burstprop] " + " ".join(f"{k} {val:.4g}" for k, val in row.items()), flush=True)
        except KeyboardInterrupt:
            res.interrupted = True
        res.seconds = time.perf_counter() - t0
        return res

    def feedback_angle(self) -> float:
        """Mean angle (degrees) between the feedback weights ``Y_l`` and ``W_{l+1}^T`` (0 = symmetric)."""
        if not self.Y or self.feedback == "symmetric":
            return 0.0
        angles = []
        for Y, W in zip(self.Y, self.W[1:], strict=True):
            cos = float(np.sum(Y * W.T) / (np.linalg.norm(Y) * np.linalg.norm(W) + 1e-300))
            angles.append(math.degrees(math.acos(max(-1.0, min(1.0, cos)))))
        return float(np.mean(angles))
