"""A PyTorch re-derivation of Yin et al. 2021's S-MNIST script configuration, to compare learning curves.

The same network and training as ``smnist --method bptt`` (see ``smnist_alif.py``), written independently
from the equations with PyTorch autograd: 4-pixel window input, 64r-256r-256-10 ALIF layers (Yin's form:
b = rho b + (1 - rho) z, threshold 0.01 + 1.8 b, reset by the threshold, input scaled by 1 - alpha),
spiking outputs whose counts are the logits, multi-Gaussian surrogate, truncated BPTT over 100-step windows
with the counts carried, Adamax lr 8e-3 (time constants 3x / 2x) with linear decay over 200 epochs, batch
300, Xavier-uniform feed-forward and zero recurrent weights; time constants in steps (dt = 1 ms). One
thread. Needs ``torch``.

Usage: ``python benches/smnist_torch_reference.py [--n-train 3000] [--epochs 6]``; prints train and
validation (1,000 images) accuracy and per-layer rates (Hz) per epoch.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
import torch
from spikeloom.datasets import sequential_mnist

B0, BETA, STEPS, WINDOW, BATCH = 0.01, 1.8, 784, 100, 300


def multi_gaussian(x: torch.Tensor) -> torch.Tensor:
    """Yin's surrogate: 0.5 [1.15 N(x; 0, 0.5) - 0.15 N(x; 0.5, 3) - 0.15 N(x; -0.5, 3)]."""

    def normal(mu: float, sd: float) -> torch.Tensor:
        return torch.exp(-((x - mu) ** 2) / (2 * sd * sd)) / (math.sqrt(2 * math.pi) * sd)

    return 0.5 * (1.15 * normal(0.0, 0.5) - 0.15 * normal(0.5, 3.0) - 0.15 * normal(-0.5, 3.0))


class Spike(torch.autograd.Function):
    """Heaviside forward, multi-Gaussian backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return (x > 0).float()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * multi_gaussian(x)


class AlifLayer(torch.nn.Module):
    """One ALIF layer with trainable per-neuron tau_m ~ N(20, 5) and tau_adapt ~ N(200, 25) steps."""

    def __init__(self, n_in: int, n: int, recurrent: bool) -> None:
        super().__init__()
        self.w = torch.nn.Linear(n_in, n)
        torch.nn.init.xavier_uniform_(self.w.weight)
        torch.nn.init.zeros_(self.w.bias)
        self.rec = torch.nn.Linear(n, n, bias=False) if recurrent else None
        if self.rec is not None:
            torch.nn.init.zeros_(self.rec.weight)
        self.tau_m = torch.nn.Parameter(torch.randn(n) * 5 + 20)
        self.tau_a = torch.nn.Parameter(torch.randn(n) * 25 + 200)
        self.n = n

    def reset(self, batch: int) -> None:
        self.u = torch.rand(batch, self.n) * B0
        self.z = torch.zeros(batch, self.n)
        self.b = torch.full((batch, self.n), B0)

    def detach(self) -> None:
        self.u, self.z, self.b = self.u.detach(), self.z.detach(), self.b.detach()

    def step(self, x: torch.Tensor) -> torch.Tensor:
        current = self.w(x) + (self.rec(self.z) if self.rec is not None else 0.0)
        alpha, rho = torch.exp(-1 / self.tau_m), torch.exp(-1 / self.tau_a)
        self.b = rho * self.b + (1 - rho) * self.z
        theta = B0 + BETA * self.b
        self.u = alpha * self.u + (1 - alpha) * current - theta * self.z
        self.z = Spike.apply(self.u - theta)
        return self.z


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=6)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    d = sequential_mnist(validation=5000, window=4)
    x_tr = torch.from_numpy(d.train.x[: a.n_train].astype(np.float32))
    y_tr = torch.from_numpy(d.train.y[: a.n_train].astype(np.int64))
    x_va = torch.from_numpy(d.validation.x[:1000].astype(np.float32))
    y_va = torch.from_numpy(d.validation.y[:1000].astype(np.int64))
    layers = torch.nn.ModuleList(
        [AlifLayer(4, 64, True), AlifLayer(64, 256, True), AlifLayer(256, 256, False), AlifLayer(256, 10, False)]
    )
    lr = 8e-3
    weights = [p for name, p in layers.named_parameters() if "tau" not in name]
    opt = torch.optim.Adamax(
        [
            {"params": weights},
            {"params": [layer.tau_a for layer in layers], "lr": 3 * lr},
            {"params": [layer.tau_m for layer in layers], "lr": 2 * lr},
        ],
        lr=lr,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1 - e / 200)
    ce = torch.nn.CrossEntropyLoss()

    def run(x: torch.Tensor, y: torch.Tensor, train: bool) -> tuple[torch.Tensor, list[float]]:
        for layer in layers:
            layer.reset(x.shape[0])
        counts = torch.zeros(x.shape[0], 10)
        rates = [0.0] * len(layers)
        for t in range(STEPS):
            h = x[:, t]
            for k, layer in enumerate(layers):
                h = layer.step(h)
                rates[k] += float(layer.z.detach().mean())
            if t > 0:
                counts = counts + h
                if train and (t % WINDOW == 0 or t == STEPS - 1):
                    loss = ce(counts, y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    for layer in layers:
                        layer.detach()
                    counts = counts.detach()
        return counts, [1000 * r / STEPS for r in rates]

    for epoch in range(1, a.epochs + 1):
        start = time.time()
        perm = torch.randperm(a.n_train)
        correct = 0
        for i in range(0, a.n_train, BATCH):
            idx = perm[i : i + BATCH]
            out, _ = run(x_tr[idx], y_tr[idx], True)
            correct += int((out.argmax(1) == y_tr[idx]).sum())
        sched.step()
        with torch.no_grad():
            out, rates = run(x_va, y_va, False)
        val = float((out.argmax(1) == y_va).float().mean())
        print(
            f"epoch {epoch}: train {correct / a.n_train:.3f} val {val:.3f} "
            f"rates {[round(r, 1) for r in rates]} Hz {time.time() - start:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
