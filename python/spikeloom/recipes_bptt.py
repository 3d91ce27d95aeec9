"""Recipes of surrogate-gradient BPTT on recurrent spiking networks.

* ``randman --method bptt``: Zenke's random-manifold task (10 classes, 100 units, 100 steps), current-based
  LIF recurrent layer, max-over-time readout loss (SpyTorch / Zenke & Vogels 2021).
* ``seqdigits --method bptt``: sklearn's 8x8 digits fed row by row as input currents, recurrent LIF.
* ``smnist --method bptt``: sequential MNIST as in Yin et al. 2021's script: a 4-pixel window per step,
  64 - 256 recurrent and 256 feed-forward ALIF layers with 10 spiking ALIF outputs (trainable time
  constants), truncated BPTT with carried spike counts, Adamax with linear decay.
* ``shd --method bptt``: Spiking Heidelberg Digits (``--data`` folder with ``shd_train.h5``/``shd_test.h5``),
  Yin et al.'s 700-128-128-20 ALIF network with the sum-of-softmax loss.

Yin et al. write their time constants in steps (dt = 1); in seconds they are ``steps x dt``: on SHD's
4 ms bins, tau_m 20 steps = 80 ms and tau_adapt 150 steps = 0.6 s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import hardware
from .bptt import BPTTConfig
from .datasets import Dataset, randman, sequential_digits, sequential_mnist, shd
from .errors import InvalidParameterError
from .recipes import RecipeArgs, RecipeResult, best_validation, register, timed
from .recurrent import Readout, RecurrentNetwork, SpikingLayer
from .surrogates import FastSigmoid, MultiGaussian
from .training import fit

SPM = "Neftci, Mostafa & Zenke 2019, IEEE SPM 36(6):51; Zenke & Vogels 2021, Neural Comput 33:899 (RandMan)"
YIN = "Yin, Corradi & Bohte 2021, Nat Mach Intell 3:905 (adaptive spiking RNNs, trainable time constants)"


def run_bptt(
    task: str,
    args: RecipeArgs,
    net: RecurrentNetwork,
    data: Dataset,
    config: BPTTConfig,
    callback: Any = None,
    **extra: Any,
) -> RecipeResult:
    """Train with validation-based model selection, evaluate on the test set, report. With
    ``args.checkpoint`` the run resumes from that training-state file when it exists and rewrites it
    after every epoch."""
    hw = hardware.recipe_hardware(args, net)
    run: dict[str, Any] = {
        "validation": data.validation,
        "config": config,
        "seed": args.seed,
        "threads": args.threads,
        "progress": args.progress,
        "callback": callback,
    }
    if hw is not None:  # on a chip
        run.update(hardware=hw, mode=args.hardware_mode, chip_seed=args.seed)
        result, seconds = timed(lambda: hardware.fit_hardware(net, data.train, **run, **args.resume_kwargs()))
    else:
        result, seconds = timed(lambda: fit(net, data.train, **run, **args.resume_kwargs()))
    test = net.evaluate(
        data.test.x,
        data.test.y,
        loss=config.loss,
        loss_start=config.loss_start,
        loss_end=config.loss_end,
        threads=args.threads,
    )
    h = result.history
    metrics = {
        "task": task,
        "method": "bptt",
        "seed": args.seed,
        "epochs": h.height,
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "val_accuracy": best_validation(result),
        "rates_hz": test["rates_hz"],
        "train_seconds": seconds,
        "interrupted": result.interrupted,
        "epochs_done": result.state.epochs_done,
        **extra,
    }
    if hw is not None:
        metrics.update(hardware.recipe_metrics(args, net, hw, (data.test.x, data.test.y)))
    return RecipeResult(metrics=metrics, history=h, model=net)


@register("randman", "bptt", SPM, "RandMan 10 classes x 100 units x 100 steps, recurrent current-based LIF, BPTT")
def randman_bptt(args: RecipeArgs, samples_per_class: int = 1000) -> RecipeResult:
    data = randman(n_classes=10, n_units=100, n_steps=100, samples_per_class=samples_per_class, seed=args.seed)
    net = RecurrentNetwork(
        100,
        [SpikingLayer.cuba(args.get("hidden", 128), tau_mem=20e-3, tau_syn=10e-3, gain=1.0, rec_gain=0.3)],
        Readout(10, tau=20e-3),
        dt=data.dt,
        seed=args.seed,
    )
    cfg = BPTTConfig(
        epochs=args.get("epochs", 15),
        batch_size=32,
        lr=5e-3,
        loss="ce_max",
        surrogate=FastSigmoid(slope=10.0),
        restore_best=True,
    )
    return run_bptt("randman", args, net, data, cfg, samples_per_class=samples_per_class)


@register("seqdigits", "bptt", SPM, "sklearn 8x8 digits row by row (8 channels x 32 steps), recurrent LIF, BPTT")
def seqdigits_bptt(args: RecipeArgs) -> RecipeResult:
    data = sequential_digits(seed=args.seed, steps_per_row=4, encoding="current")
    net = RecurrentNetwork(
        8,
        [SpikingLayer.lif(args.get("hidden", 128), tau_mem=20e-3, gain=1.0, rec_gain=0.3)],
        Readout(10, tau=20e-3),
        dt=data.dt,
        seed=args.seed,
    )
    cfg = BPTTConfig(
        epochs=args.get("epochs", 50),
        batch_size=32,
        lr=1e-2,
        lr_step=15,
        lr_gamma=0.5,
        loss="ce_mean",
        surrogate=FastSigmoid(slope=10.0),
        restore_best=True,
    )
    return run_bptt("seqdigits", args, net, data, cfg)


def yin_alif(
    size: int,
    dt: float,
    tau_m_steps: float,
    tau_adapt_steps: float,
    sd_m: float,
    sd_a: float,
    rec_gain: float = 0.5,
    recurrent: bool = True,
) -> SpikingLayer:
    """Yin et al.'s ALIF layer with their time constants given in steps of ``dt``."""
    return SpikingLayer.alif_yin(
        size,
        tau_mem=tau_m_steps * dt,
        tau_mem_sd=sd_m * dt,
        tau_adapt=tau_adapt_steps * dt,
        tau_adapt_sd=sd_a * dt,
        gain=1.0,
        rec_gain=rec_gain,
        recurrent=recurrent,
    )


def xavier_uniform(net: RecurrentNetwork, seed: int) -> None:
    """Yin et al.'s initialisation: feed-forward weights ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``
    (PyTorch's ``xavier_uniform_``), recurrent weights and biases zero, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    new = {}
    for name, value in net.parameters().items():
        if name.endswith("w_in"):
            bound = np.sqrt(6.0 / (value.shape[0] + value.shape[1]))
            new[name] = rng.uniform(-bound, bound, value.shape)
        elif name.endswith(("w_rec", "bias")):
            new[name] = np.zeros(value.shape)
    net.set_parameters(**new)


@register("smnist", "bptt", YIN, "sequential MNIST (784 steps, 4-pixel window), 64-256-256-10 ALIF (Yin et al.), TBPTT")
def smnist_bptt(args: RecipeArgs, n_train: int | None = None, callback: Any = None) -> RecipeResult:
    """Yin et al.'s S-MNIST script: each step shows the current pixel and the next three (binary,
    ``pixel > 0.1``); 64 and 256 recurrent ALIF layers, a 256 feed-forward ALIF layer and 10 spiking ALIF
    outputs whose spike counts are the logits; Xavier-uniform feed-forward weights, zero recurrent weights;
    truncated BPTT over 100-step windows with the counts carried; Adamax lr 8e-3 decaying linearly over 200
    epochs, batch 300."""
    data = sequential_mnist(validation=5000, window=4)
    if n_train is not None:
        from .datasets import Split

        data = Dataset(
            data.name,
            Split(data.train.x[:n_train], data.train.y[:n_train]),
            data.validation,
            data.test,
            data.n_classes,
        )
    dt = 1e-3
    hidden = args.get("hidden", 256)
    layers = [
        yin_alif(64, dt, 20, 200, 5, 25),
        yin_alif(hidden, dt, 20, 200, 5, 25),
        yin_alif(hidden, dt, 20, 200, 5, 25, recurrent=False),
        yin_alif(10, dt, 20, 200, 5, 25, recurrent=False),
    ]
    net = RecurrentNetwork(4, layers, None, dt=dt, seed=args.seed)
    xavier_uniform(net, args.seed)
    cfg = BPTTConfig(
        epochs=args.get("epochs", 200),
        batch_size=300,
        lr=8e-3,
        # The script's time-constant rates are 3x (adaptation) and 2x (membrane) lr in steps per step:
        # 2.4e-5 and 1.6e-5 s per step at dt = 1 ms; one rate here, between the two.
        lr_tau=2e-5,
        optimizer="adamax",
        lr_schedule="linear",
        loss="ce_counts",
        loss_start=1,
        surrogate=MultiGaussian(),
        truncation=100,
        carry_loss=True,
        restore_best=True,
    )
    return run_bptt("smnist", args, net, data, cfg, callback=callback)


@register("shd", "bptt", YIN, "Spiking Heidelberg Digits (--data FOLDER), 700-128-128-20 ALIF (Yin et al.), BPTT")
def shd_bptt(args: RecipeArgs) -> RecipeResult:
    if args.data is None:
        raise InvalidParameterError(
            "data: expected the folder holding shd_train.h5 and shd_test.h5 (download them from "
            "compneuro.net, then `spikeloom train shd --data FOLDER`), got nothing"
        )
    dt = 4e-3
    data = shd(args.data, dt=dt, duration=1.0, seed=args.seed)
    hidden = args.get("hidden", 128)
    layers = [yin_alif(hidden, dt, 20, 150, 5, 10), yin_alif(hidden, dt, 20, 150, 5, 10)]
    net = RecurrentNetwork(700, layers, Readout(20, tau=20 * dt, tau_sd=5 * dt, train_tau=True), dt=dt, seed=args.seed)
    cfg = BPTTConfig(
        epochs=args.get("epochs", 20),
        batch_size=64,
        lr=1e-2,
        lr_tau=1e-2 * dt,
        eps=1e-5,
        lr_step=10,
        lr_gamma=0.5,
        loss="ce_sum_softmax",
        loss_start=11,
        surrogate=MultiGaussian(),
        restore_best=True,
    )
    return run_bptt("shd", args, net, data, cfg, n_train=len(data.train))
