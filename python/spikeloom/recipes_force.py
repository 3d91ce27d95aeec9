"""Recipes of FORCE training of spiking reservoirs (Nicola & Clopath 2017), the reference scripts'
configurations: settle (RLS off), learn (RLS every ``rls_every`` steps), then test with the decoders
frozen; the final metrics are the test-period correlation and error.

* ``sine --method force [--neuron lif|izhikevich|theta]``: 5 Hz sine, N 2000, 5 s / 5 s / 5 s
  (LIFFORCESINE, IZFORCESINE, THETAFORCESINE).
* ``vanderpol --method force``: van der Pol relaxation oscillator (mu 5), both components, theta
  neurons, N 2000, 5 s / 5 s / 5 s (THETAFORCEVDPRELAX).
* ``odetojoy --method force``: the first bar of Ode to Joy (5 note channels, 4 s), Izhikevich neurons
  (b = 0), N 5000. The script learns for 900 s and tests for 100 s; by default this recipe learns for
  25 repetitions of the bar (100 s) and tests on 3 (12 s).

``--hidden`` sets N; ``--epochs`` the learning time in periods of the target (sine: 0.2 s, van der
Pol: its cycle, Ode to Joy: 4-s bars). ``--checkpoint FILE`` saves the reservoir every 60 simulated
seconds and continues from FILE if it exists (e.g. the script's 1000-s Ode to Joy protocol over
several runs); ``--out`` writes the trained reservoir (``ForceNetwork.load``).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from .datasets import force_targets as targets
from .errors import InvalidParameterError
from .force import ForceNetwork, izhikevich_ode_to_joy, izhikevich_sine, lif_sine, theta_sine, theta_van_der_pol
from .force import train_force as _train
from .recipes import RecipeArgs, RecipeResult, register, timed

NICOLA = "Nicola & Clopath 2017, Nat Commun 8:2208 (FORCE training of spiking networks; ModelDB 190565)"

_SINE_PRESETS = {"lif": lif_sine, "izhikevich": izhikevich_sine, "theta": theta_sine}


def run_force(
    task: str,
    args: RecipeArgs,
    net: ForceNetwork,
    target: Any,
    *,
    settle: float,
    learn: float,
    test: float,
    **extra: Any,
) -> RecipeResult:
    """Run the settle / learn / test protocol; collect the progress reports as the history."""
    rows: list[dict[str, Any]] = []

    def record(info: dict[str, Any]) -> bool:
        rows.append({k: info[k] for k in ("time", "rate_hz", "mse", "learning", "rls_updates")})
        return True

    result, seconds = timed(
        lambda: _train(
            net,
            target,
            settle=settle,
            learn=learn,
            test=test,
            progress=args.progress,
            callback=record,
            report_every=0.5,
            threads=args.threads,
            checkpoint=args.checkpoint,
        )
    )
    simulated = settle + learn + test
    metrics = {
        "task": task,
        "method": "force",
        "seed": args.seed,
        "n": net.n,
        **extra,
        **result.metrics(),
        "train_seconds": seconds,
        "wall_seconds_per_simulated_second": seconds / simulated,
    }
    return RecipeResult(metrics=metrics, history=pl.DataFrame(rows), model=net)


@register("sine", "force", NICOLA, "5 Hz sine, FORCE-trained reservoir of 2000 LIF (or --neuron izhikevich/theta)")
def sine_force(args: RecipeArgs) -> RecipeResult:
    neuron = args.get("neuron", "lif")
    if neuron not in _SINE_PRESETS:
        raise InvalidParameterError(f"neuron: expected one of {sorted(_SINE_PRESETS)}, got {neuron!r}")
    net = _SINE_PRESETS[neuron](n=args.get("hidden", 2000), seed=args.seed)
    learn = 0.2 * args.epochs if args.epochs is not None else 5.0
    return run_force("sine", args, net, targets.make_sine(5.0), settle=5.0, learn=learn, test=5.0, neuron=neuron)


@register("vanderpol", "force", NICOLA, "van der Pol relaxation oscillator (mu 5, 2-D), 2000 theta neurons, FORCE")
def vanderpol_force(args: RecipeArgs) -> RecipeResult:
    period = 0.58  # the limit cycle's period with mu 5, md 10, tc 20 (s), from the RK4 trajectory's zero crossings
    learn = period * args.epochs if args.epochs is not None else 5.0
    total = 5.0 + learn + 5.0
    net = theta_van_der_pol(n=args.get("hidden", 2000), seed=args.seed)
    target = targets.make_van_der_pol(total + 0.1)
    return run_force("vanderpol", args, net, target, settle=5.0, learn=learn, test=5.0, neuron="theta")


@register("odetojoy", "force", NICOLA, "first bar of Ode to Joy (5 notes), 5000 Izhikevich neurons, FORCE")
def odetojoy_force(args: RecipeArgs) -> RecipeResult:
    bars = args.get("epochs", 25)
    net = izhikevich_ode_to_joy(n=args.get("hidden", 5000), seed=args.seed)
    target = targets.make_ode_to_joy(4.0)
    return run_force("odetojoy", args, net, target, settle=1.0, learn=4.0 * bars, test=12.0, neuron="izhikevich")
