"""spikeloom: exact, fast spiking neural network training with a Rust engine.

Quick start::

    import spikeloom as sl
    data = sl.datasets.yin_yang()
    enc = sl.LinearLatency.goltz(tau_syn=5e-3)
    net = sl.TTFSNetwork([4, 120, 3], neuron=sl.LIF(tau_mem=5e-3, tau_syn=5e-3), seed=0, encoder=enc)
    result = sl.fit(net, data.train.encode(enc), validation=data.validation.encode(enc))
    net.evaluate(enc(data.test.x), data.test.y)
"""

from . import datasets, errors, recipes, ttfs
from ._core import __version__
from .encoders import LinearLatency
from .errors import SpikeloomError
from .network import TTFSNetwork
from .neurons import LIF
from .training import FitResult, TTFSConfig, fit

__all__ = [
    "LIF",
    "FitResult",
    "LinearLatency",
    "SpikeloomError",
    "TTFSConfig",
    "TTFSNetwork",
    "__version__",
    "datasets",
    "errors",
    "fit",
    "recipes",
    "ttfs",
]
