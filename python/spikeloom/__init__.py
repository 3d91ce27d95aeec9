"""spikeloom: exact, fast spiking neural network training with a Rust engine.

Quick start::

    import spikeloom as sl
    data = sl.datasets.yin_yang()
    enc = sl.LinearLatency.goltz(tau_syn=5e-3)
    net = sl.TTFSNetwork([4, 120, 3], neuron=sl.LIF(tau_mem=5e-3, tau_syn=5e-3), seed=0, encoder=enc)
    result = sl.fit(net, data.train.encode(enc), validation=data.validation.encode(enc))
    net.evaluate(enc(data.test.x), data.test.y)
"""

from . import (
    burst,
    burstprop,
    datasets,
    eprop,
    errors,
    force,
    hardware,
    nir_io,
    plot,
    recipes,
    s4nn,
    sim,
    surrogates,
    ttfs,
)
from ._core import __version__
from .alpha import AlphaConfig, AlphaNetwork
from .bptt import BPTTConfig
from .burst import BurstNetwork, BurstRule, TwoCompartment
from .burstprop import BurstPropConfig, BurstPropNetwork
from .checkpoint import TrainingState
from .decolle import DecolleConfig, DecolleNetwork
from .encoders import ComsaLatency, LinearLatency
from .eprop import EpropConfig
from .errors import SpikeloomError
from .hardware import Hardware, fit_hardware, monte_carlo
from .network import TTFSNetwork
from .neurons import LIF, Alpha
from .nir_io import from_nir, load_nir, save_nir, to_nir
from .recurrent import Readout, Recording, RecurrentNetwork, SpikingLayer
from .s4nn import S4NNConfig, S4NNNetwork
from .sweep import sweep
from .training import FitResult, TTFSConfig, fit

__all__ = [
    "LIF",
    "Alpha",
    "AlphaConfig",
    "AlphaNetwork",
    "BPTTConfig",
    "BurstNetwork",
    "BurstPropConfig",
    "BurstPropNetwork",
    "BurstRule",
    "TwoCompartment",
    "burst",
    "burstprop",
    "DecolleConfig",
    "DecolleNetwork",
    "EpropConfig",
    "eprop",
    "Readout",
    "Recording",
    "RecurrentNetwork",
    "SpikingLayer",
    "surrogates",
    "plot",
    "sim",
    "ComsaLatency",
    "S4NNConfig",
    "S4NNNetwork",
    "s4nn",
    "FitResult",
    "TrainingState",
    "LinearLatency",
    "SpikeloomError",
    "TTFSConfig",
    "TTFSNetwork",
    "__version__",
    "datasets",
    "errors",
    "fit",
    "force",
    "recipes",
    "ttfs",
    "hardware",
    "Hardware",
    "fit_hardware",
    "monte_carlo",
    "sweep",
    "nir_io",
    "to_nir",
    "from_nir",
    "save_nir",
    "load_nir",
]
