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
    @staticmethod
    def with_init(
        sizes: list[int],
        tau_mem: float,
        tau_syn: float,
        threshold: float,
        bias_times: list[list[float]],
        init: list[tuple[float, float, float, float]],
        seed: int,
    ) -> TtfsNetwork: ...
    def bias_times(self, layer: int) -> list[float]: ...
    def set_bias_times(self, layer: int, times: list[float]) -> None: ...
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
    def evaluate_comsa(
        self,
        times: npt.NDArray[np.float64],
        labels: npt.NDArray[np.int64],
        time_unit: float,
        penalty_output_spike_time: float,
        threads: int = 0,
    ) -> tuple[float, float, npt.NDArray[np.int64]]: ...
    def comsa_gradients(
        self,
        times: npt.NDArray[np.float64],
        labels: npt.NDArray[np.int64],
        settings: str,
        threads: int = 0,
    ) -> tuple[float, float, int, list[npt.NDArray[np.float64]], list[npt.NDArray[np.float64]]]: ...
    def fit(
        self,
        train_times: npt.NDArray[np.float64],
        train_labels: npt.NDArray[np.int64],
        val_times: npt.NDArray[np.float64] | None,
        val_labels: npt.NDArray[np.int64] | None,
        config: str,
        callback: Callable[[dict[str, Any]], bool | None] | None = None,
        resume: TrainState | None = None,
        checkpoint: str | None = None,
        fingerprint: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool, TrainState]: ...
    def to_bytes(self, extra: str) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> tuple[TtfsNetwork, str]: ...
    def save(self, path: str, extra: str) -> None: ...
    @staticmethod
    def load(path: str) -> tuple[TtfsNetwork, str]: ...

class S4nnNetwork:
    """S4NN network (Kheradpisheh & Masquelier 2020); times are integer steps 0..t_max."""

    def __init__(
        self,
        sizes: list[int],
        thresholds: list[float],
        init: list[tuple[float, float]],
        t_max: int,
        delay: int,
        seed: int,
    ) -> None: ...
    @property
    def sizes(self) -> list[int]: ...
    @property
    def thresholds(self) -> list[float]: ...
    @property
    def t_max(self) -> int: ...
    @property
    def delay(self) -> int: ...
    def weights(self, layer: int) -> npt.NDArray[np.float64]: ...
    def set_weights(self, layer: int, weights: npt.NDArray[np.float64]) -> None: ...
    def run(
        self, times: npt.NDArray[np.int64], threads: int = 0
    ) -> tuple[list[npt.NDArray[np.int64]], npt.NDArray[np.float64]]: ...
    def predict(
        self, times: npt.NDArray[np.int64], tie: str, protocol: str, threads: int = 0
    ) -> npt.NDArray[np.int64]: ...
    def evaluate(
        self, times: npt.NDArray[np.int64], labels: npt.NDArray[np.int64], tie: str, threads: int = 0
    ) -> dict[str, float]: ...
    def fit(
        self,
        train_times: npt.NDArray[np.int64],
        train_labels: npt.NDArray[np.int64],
        val_times: npt.NDArray[np.int64] | None,
        val_labels: npt.NDArray[np.int64] | None,
        test_times: npt.NDArray[np.int64] | None,
        test_labels: npt.NDArray[np.int64] | None,
        config: str,
        callback: Callable[[dict[str, Any]], bool | None] | None = None,
        resume: TrainState | None = None,
        checkpoint: str | None = None,
        fingerprint: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool, int | None, TrainState]: ...
    @staticmethod
    def relative_targets(
        times: npt.NDArray[np.int64], labels: npt.NDArray[np.int64], t_max: int, gamma: int
    ) -> npt.NDArray[np.int64]: ...
    def to_bytes(self, extra: str) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> tuple[S4nnNetwork, str]: ...
    def save(self, path: str, extra: str) -> None: ...
    @staticmethod
    def load(path: str) -> tuple[S4nnNetwork, str]: ...

class RsnnNetwork:
    def __init__(self, spec: str, seed: int) -> None: ...
    def spec_json(self) -> str: ...
    def params(self) -> npt.NDArray[np.float64]: ...
    def set_params(self, params: npt.NDArray[np.float64]) -> None: ...
    def tensors(self) -> list[tuple[str, list[int], int, int]]: ...
    def fit(
        self,
        x: npt.NDArray[Any],
        y: npt.NDArray[Any],
        val_x: npt.NDArray[Any] | None,
        val_y: npt.NDArray[Any] | None,
        config: str,
        callback: Callable[[dict[str, Any]], bool | None] | None = None,
        resume: TrainState | None = None,
        checkpoint: str | None = None,
        fingerprint: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool, TrainState]: ...
    def evaluate(
        self,
        x: npt.NDArray[Any],
        y: npt.NDArray[Any],
        loss: str,
        surrogate: str,
        precision: str,
        threads: int = 0,
        membrane_noise: float = 0.0,
        noise_seed: int = 0,
    ) -> dict[str, Any]: ...
    def gradient(
        self, x: npt.NDArray[Any], y: npt.NDArray[Any], config: str
    ) -> tuple[float, npt.NDArray[np.float64]]: ...
    def run(
        self,
        x: npt.NDArray[Any],
        surrogate: str,
        precision: str,
        threads: int = 0,
        membrane_noise: float = 0.0,
        noise_seed: int = 0,
    ) -> tuple[list[dict[str, npt.NDArray[Any]]], npt.NDArray[Any] | None]: ...
    def to_bytes(self, extra: str) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> tuple[RsnnNetwork, str]: ...
    def save(self, path: str, extra: str) -> None: ...
    @staticmethod
    def load(path: str) -> tuple[RsnnNetwork, str]: ...

class TrainState:
    @staticmethod
    def from_bytes(data: bytes, source: str) -> TrainState: ...
    def to_bytes(self) -> bytes: ...
    def save(self, path: str) -> None: ...
    @property
    def method(self) -> str: ...
    @property
    def epochs_done(self) -> int: ...
    @property
    def n_params(self) -> int: ...
    @property
    def best_score(self) -> float | None: ...
    @property
    def fingerprint(self) -> str | None: ...
    @property
    def history(self) -> str: ...

class SimGroup:
    def __init__(
        self,
        n: int,
        dt: float,
        tau_mem: float,
        v_rest: float,
        threshold: float,
        v_reset: float,
        refractory: float,
        receptor_taus: list[float],
    ) -> None: ...
    def connect(
        self,
        pre_start: int,
        pre_end: int,
        post_start: int,
        post_end: int,
        p: float,
        weight: float,
        receptor: int,
        seed: int,
    ) -> int: ...
    def run(self, v0: npt.NDArray[np.float64], steps: int, record: bool) -> dict[str, Any]: ...

class ForceNetwork:
    def __init__(self, config: str) -> None: ...
    def run(
        self,
        steps: int,
        target: npt.NDArray[np.float64] | None,
        learn: bool,
        record_every: int = 1,
        record_spikes: bool = False,
        record_updates: bool = False,
        progress_every: int = 0,
        threads: int = 0,
        callback: Any = None,
    ) -> dict[str, Any]: ...
    @property
    def step(self) -> int: ...
    @property
    def rls_updates(self) -> int: ...
    def decoders(self) -> npt.NDArray[np.float64]: ...
    def set_decoders(self, d: npt.NDArray[np.float64]) -> None: ...
    def encoders(self) -> npt.NDArray[np.float64]: ...
    def weights(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.float64]]: ...
    def rls_matrix(self) -> npt.NDArray[np.float64]: ...
    def reset_rls(self) -> None: ...
    def state(self) -> dict[str, npt.NDArray[np.float64]]: ...
    def set_potentials(self, v: npt.NDArray[np.float64], u: npt.NDArray[np.float64]) -> None: ...
    def config_json(self) -> str: ...
    def to_bytes(self, extra: str) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes) -> tuple[ForceNetwork, str]: ...
    def save(self, path: str, extra: str) -> None: ...
    @staticmethod
    def load(path: str) -> tuple[ForceNetwork, str]: ...

# --- hardware model (spikeloom.hardware) ---
def hardware_quantize(
    w: npt.NDArray[np.float64], bits: int | None, range: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def hardware_chip(net: TtfsNetwork, spec: str, seed: int) -> dict[str, list[npt.NDArray[np.float64]]]: ...
def hardware_evaluate(
    net: TtfsNetwork,
    spec: str,
    chip_seeds: list[int],
    trial_seed: int,
    times: npt.NDArray[np.float64],
    labels: npt.NDArray[np.int64],
    loss: str,
    params: list[float],
    threads: int = 0,
) -> list[tuple[int, float, float, list[float]]]: ...
def hardware_params(
    spec: str, names: list[str], shapes: list[list[int]], values: npt.NDArray[np.float64], seed: int
) -> npt.NDArray[np.float64]: ...
def hardware_trial_inputs(x: Any, spec: str, dt: float, seed: int) -> npt.NDArray[np.float32]: ...
def hardware_run(
    net: TtfsNetwork,
    spec: str,
    chip_seed: int,
    trial_seed: int,
    times: npt.NDArray[np.float64],
    threads: int = 0,
) -> list[npt.NDArray[np.float64]]: ...

# e-prop (spikeloom.eprop)
def eprop_fit(
    net: RsnnNetwork,
    x: Any,
    y: Any,
    val_x: Any | None,
    val_y: Any | None,
    config: str,
    callback: Any | None = None,
    resume: TrainState | None = None,
    checkpoint: str | None = None,
    fingerprint: str | None = None,
) -> tuple[list[dict[str, Any]], bool, TrainState]: ...
def eprop_gradient(
    net: RsnnNetwork, x: Any, y: Any, config: str, online_sum: bool = False
) -> tuple[float, npt.NDArray[np.float64]]: ...
def eprop_workspace_bytes(net: RsnnNetwork, x: Any, y: Any, config: str) -> int: ...
def eprop_sparse_benchmark(
    n_in: int,
    n_rec: int,
    p_in: float,
    p_rec: float,
    steps: int,
    rate_hz: float = 20.0,
    gain: float = 1.2,
    lr: float = 1e-4,
    dt: float = 1e-3,
    seed: int = 0,
) -> dict[str, Any]: ...

class BurstNetwork:
    def __init__(self, spec_json: str, threads: int) -> None: ...
    @property
    def time(self) -> float: ...
    def run(self, steps: int, plastic: bool, record: bool) -> dict[str, Any]: ...
    def set_current(self, population: int, compartment_name: str, values: npt.NDArray[np.float64]) -> None: ...
    def estimates(self, population: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def potentials(self, population: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
    def weights(
        self, post: int, index: int
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32], npt.NDArray[np.float64]]: ...
    def set_weights(self, post: int, index: int, w: npt.NDArray[np.float64]) -> None: ...

def burst_neuron_trace(
    params_json: str,
    dt: float,
    vs0: npt.NDArray[np.float64],
    vd0: npt.NDArray[np.float64],
    i_s: npt.NDArray[np.float64],
    i_d: npt.NDArray[np.float64],
    ge_s: npt.NDArray[np.float64],
    gi_s: npt.NDArray[np.float64],
    ge_d: npt.NDArray[np.float64],
    gi_d: npt.NDArray[np.float64],
    seed: int,
) -> dict[str, Any]: ...
def classify_bursts(
    times: npt.NDArray[np.float64], ids: npt.NDArray[np.int64], n: int, window: float
) -> npt.NDArray[np.uint8]: ...
def tm_efficacies(
    times: npt.NDArray[np.float64], u0: float, f: float, tau_d: float, tau_f: float
) -> npt.NDArray[np.float64]: ...
