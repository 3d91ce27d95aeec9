"""Recipes of the alpha-synapse method (Comsa et al. 2020), and Göltz et al.'s method on 8x8 digits.

All alpha recipes use a time unit of 1 ms: the paper's times ("1") are milliseconds here, so its decay
rates, thresholds and pulse learning rates apply unchanged.
"""

from __future__ import annotations

from typing import Any

from . import _validation as v
from .alpha import (
    MNIST_DATA_MEAN_MULTIPLIER,
    MNIST_DECAY_RATE,
    MNIST_PULSE_MEAN_MULTIPLIER,
    MNIST_THRESHOLD,
    AlphaConfig,
    AlphaNetwork,
)
from .datasets import digits, mnist, noisy_logic
from .encoders import ComsaLatency, LinearLatency
from .network import TTFSNetwork
from .neurons import LIF, Alpha
from .recipes import RecipeArgs, RecipeResult, best_validation, register, timed
from .training import FitResult, TTFSConfig, fit

COMSA = "Comsa et al. 2020, ICASSP (temporal coding with alpha synaptic function), google/ihmehimmeli"
GOLTZ = "Göltz, Kriener et al. 2021, Nat. Mach. Intell. 3:823 (fast and deep, first-spike times)"

#: The paper's unit of time, seconds.
TIME_UNIT = 1e-3

#: Noisy XOR: the reference's flag defaults (K = 1, threshold 0.4, 2-4-2, 2 pulses per layer, penalty 1,
#: batch 1, 100 epochs, only misclassified samples) except the learning rates: with its lr = 1e-4 /
#: lr_pulses = 1e-3 we measured ~90 % mean test accuracy over 8 seeds; 1e-2 / 1e-2 gives >= 99 % on all
#: of 16 seeds (99.7 % mean on 5000 fresh test samples).
XOR_CONFIG = dict(lr=1e-2, lr_pulses=1e-2)


def _finish(
    task: str,
    method: str,
    args: RecipeArgs,
    net: TTFSNetwork,
    result: FitResult,
    seconds: float,
    test: dict[str, float],
    **extra: Any,
) -> RecipeResult:
    h = result.history
    metrics: dict[str, Any] = {
        "task": task,
        "method": method,
        "seed": args.seed,
        "epochs": h.height,
        "epochs_done": result.state.epochs_done,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "train_seconds": seconds,
        "interrupted": result.interrupted,
        **extra,
    }
    best = best_validation(result)
    if best == best:  # not NaN: the run had a validation set
        metrics["best_val_accuracy"] = best
    return RecipeResult(metrics=metrics, history=h, model=net)


def _fit_alpha(net: AlphaNetwork, data: Any, enc: Any, cfg: AlphaConfig, args: RecipeArgs) -> tuple[FitResult, float]:
    return timed(
        lambda: fit(
            net,
            data.train.encode(enc),
            validation=data.validation.encode(enc),
            config=cfg,
            seed=args.seed,
            threads=args.threads,
            progress=args.progress,
            **args.resume_kwargs(),
        )
    )


@register("xor", "alpha", COMSA, "noisy XOR, 2-4-2 alpha neurons + 2 pulses/layer, 100 epochs; reference ~100%")
def xor_alpha(args: RecipeArgs) -> RecipeResult:
    data = noisy_logic("xor", seed=args.seed)
    neuron = Alpha(tau=TIME_UNIT, v_th=0.4, time_unit=TIME_UNIT)
    enc = LinearLatency(0.0, TIME_UNIT)  # the value itself is the spike time, as the reference
    hidden = v.positive_int("hidden", args.hidden) if args.hidden is not None else 4
    net = AlphaNetwork([2, hidden, 2], neuron=neuron, n_pulses=2, seed=args.seed, encoder=enc)
    cfg = AlphaConfig(epochs=args.epochs if args.epochs is not None else 100, **XOR_CONFIG)
    result, seconds = _fit_alpha(net, data, enc, cfg, args)
    test = net.evaluate(enc(data.test.x), data.test.y, threads=args.threads)
    return _finish("xor", "alpha", args, net, result, seconds, test, hidden=hidden)


#: 8x8 digits (not in the paper): MNIST's neuron (K, threshold), time unit, encoding and 10 pulses per
#: layer; settings chosen on this small set (1259 training images) by a search over seeds 0-2
#: (see docs/architecture.md): the reference's default of learning only from misclassified samples
#: with penalty_no_spike 1, batch 8, lr 1e-3, lr_pulses 1e-3, input jitter 0.1 time unit, Glorot means
#: 0 (data) / 2 sd (pulses). 80 epochs at a constant lr measured 93.3 / 95.5 / 95.3 / 96.1 / 97.5 % on seeds
#: 0-4 (split and initialisation; mean 95.5 %, 95.6 % over seeds 0-9); 150 epochs with lr x 0.99 per
#: epoch (restoring the best validation epoch, as before): 95.3 / 95.5 / 95.5 / 96.1 / 96.4 % (mean
#: 95.8 %; 96.0 % over seeds 0-9, lowest 94.2 % on seed 8), 11-23 s each on one thread. Seed 0 is one
#: test image above 95 % and sensitive to the epoch count (120 or 200 epochs: 94.4 / 95.0 %): the
#: 179-image validation split makes the restored epoch partly luck.
DIGITS_ALPHA: dict[str, Any] = dict(
    batch_size=8,
    lr=1e-3,
    lr_decay=0.99,
    lr_pulses=1e-3,
    penalty_no_spike=1.0,
    update_all_datapoints=False,
    input_noise=0.1 * TIME_UNIT,
)
DIGITS_ALPHA_EPOCHS = 150
DIGITS_ALPHA_HIDDEN = 200
DIGITS_ALPHA_MEANS = (0.0, 2.0)


@register(
    "digits",
    "alpha",
    COMSA,
    "sklearn 8x8 digits, 64-200-10 alpha neurons + 10 pulses/layer, 150 epochs, lr x 0.99 per epoch",
)
def digits_alpha(args: RecipeArgs) -> RecipeResult:
    data = digits(seed=args.seed)
    neuron = Alpha.from_decay_rate(MNIST_DECAY_RATE, MNIST_THRESHOLD, TIME_UNIT)
    enc = ComsaLatency(TIME_UNIT)
    hidden = v.positive_int("hidden", args.hidden) if args.hidden is not None else DIGITS_ALPHA_HIDDEN
    net = AlphaNetwork(
        [64, hidden, 10],
        neuron=neuron,
        n_pulses=10,
        data_mean_multiplier=DIGITS_ALPHA_MEANS[0],
        pulse_mean_multiplier=DIGITS_ALPHA_MEANS[1],
        seed=args.seed,
        encoder=enc,
    )
    cfg = AlphaConfig.mnist(epochs=args.epochs if args.epochs is not None else DIGITS_ALPHA_EPOCHS, **DIGITS_ALPHA)
    result, seconds = _fit_alpha(net, data, enc, cfg, args)
    test = net.evaluate(enc(data.test.x), data.test.y, threads=args.threads)
    return _finish("digits", "alpha", args, net, result, seconds, test, hidden=hidden)


def mnist_alpha_network(seed: int = 0, hidden: int = 340) -> AlphaNetwork:
    """The paper's MNIST network: 784-340-10 alpha neurons, 10 pulses per layer, README initialisation."""
    return AlphaNetwork(
        [784, hidden, 10],
        neuron=Alpha.from_decay_rate(MNIST_DECAY_RATE, MNIST_THRESHOLD, TIME_UNIT),
        n_pulses=10,
        data_mean_multiplier=MNIST_DATA_MEAN_MULTIPLIER,
        pulse_mean_multiplier=MNIST_PULSE_MEAN_MULTIPLIER,
        seed=seed,
        encoder=ComsaLatency(TIME_UNIT),
    )


@register("mnist", "alpha", COMSA, "MNIST 784-340-10 alpha neurons + 10 pulses/layer, README settings; paper 97.96%")
def mnist_alpha(args: RecipeArgs) -> RecipeResult:
    data = mnist(validation=6000)  # the reference's 54000 / 6000 split
    hidden = v.positive_int("hidden", args.hidden) if args.hidden is not None else 340
    net = mnist_alpha_network(args.seed, hidden)
    enc = net.encoder
    cfg = AlphaConfig.mnist(epochs=args.epochs if args.epochs is not None else 100)
    result, seconds = _fit_alpha(net, data, enc, cfg, args)
    test = net.evaluate(enc(data.test.x), data.test.y, threads=args.threads)
    return _finish("mnist", "alpha", args, net, result, seconds, test, hidden=hidden)


#: Göltz et al.'s method on 8x8 digits (not in the paper): tau = 5 ms, bright pixels early.
DIGITS_TTFS_TAU = 5e-3
DIGITS_TTFS_EPOCHS = 60
DIGITS_TTFS_HIDDEN = 100
DIGITS_TTFS_INIT = ((0.3, 0.3), (0.3, 0.3))
DIGITS_TTFS: dict[str, Any] = dict(batch_size=50, lr=0.005, lr_step=20, lr_gamma=0.95)


@register("digits", "ttfs", GOLTZ, "sklearn 8x8 digits, 64-100-10 LIF (+bias spike), exact TTFS gradients")
def digits_ttfs(args: RecipeArgs) -> RecipeResult:
    data = digits(seed=args.seed)
    tau = DIGITS_TTFS_TAU
    enc = LinearLatency.goltz(tau, invert=True)
    hidden = v.positive_int("hidden", args.hidden) if args.hidden is not None else DIGITS_TTFS_HIDDEN
    net = TTFSNetwork(
        [64, hidden, 10],
        neuron=LIF(tau_mem=tau, tau_syn=tau, v_th=1.0),
        init=DIGITS_TTFS_INIT,
        seed=args.seed,
        encoder=enc,
    )
    cfg = TTFSConfig(epochs=args.epochs if args.epochs is not None else DIGITS_TTFS_EPOCHS, **DIGITS_TTFS)
    result, seconds = timed(
        lambda: fit(
            net,
            data.train.encode(enc),
            validation=data.validation.encode(enc),
            config=cfg,
            seed=args.seed,
            threads=args.threads,
            progress=args.progress,
            **args.resume_kwargs(),
        )
    )
    test = net.evaluate(enc(data.test.x), data.test.y, threads=args.threads)
    return _finish("digits", "ttfs", args, net, result, seconds, test, hidden=hidden)
