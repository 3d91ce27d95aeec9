"""Type stubs of the native module spikeloom._core (thin bindings of spikeloom-core)."""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

def lambert_w0(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
def layer_spike_times(
    times: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    tau_mem: float,
    tau_syn: float,
    threshold: float,
    threads: int = 0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

class TtfsNetwork:
    def __init__(
        self,
        sizes: list[int],
        tau_mem: float,
        tau_syn: float,
        threshold: float,
        bias_times: list[list[float]],
        init: list[tuple[float, float]],
        seed: int,
    ) -> None: ...
    @property
    def sizes(self) -> list[int]: ...
    @property
    def tau_mem(self) -> float: ...
    @property
    def tau_syn(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    def bias_times(self, layer: int) -> list[float]: ...
    def weights(self, layer: int) -> npt.NDArray[np.float64]: ...
    def set_weights(self, layer: int, weights: npt.NDArray[np.float64]) -> None: ...
    def run(self, times: npt.NDArray[np.float64], threads: int = 0) -> list[npt.NDArray[np.float64]]: ...
    def evaluate(
        self,
        times: npt.NDArray[np.float64],
        labels: npt.NDArray[np.int64],
        xi: float,
        alpha: float,
        beta: float,
        threads: int = 0,
    ) -> tuple[float, float, npt.NDArray[np.int64]]: ...
    def fit(
        self,
        train_times: npt.NDArray[np.float64],
        train_labels: npt.NDArray[np.int64],
        val_times: npt.NDArray[np.float64] | None,
        val_labels: npt.NDArray[np.int64] | None,
        config: str,
        callback: Callable[[dict[str, Any]], bool | None] | None = None,
    ) -> tuple[list[dict[str, Any]], bool]: ...
    def to_bytes(self, extra: str) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> tuple[TtfsNetwork, str]: ...
    def save(self, path: str, extra: str) -> None: ...
    @staticmethod
    def load(path: str) -> tuple[TtfsNetwork, str]: ...
