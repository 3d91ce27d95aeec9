"""FORCE reservoirs (spikeloom.force) against a step-by-step numpy reference and exact ridge regression."""

from __future__ import annotations

import numpy as np
import pytest
from force_reference import simulate
from spikeloom import force as F
from spikeloom.datasets import force_targets as T
from spikeloom.errors import InvalidParameterError, ShapeError


def _sine(t: np.ndarray) -> np.ndarray:
    return np.sin(2 * np.pi * 5 * t)[:, None]


PRESETS = {
    "lif": lambda **kw: F.lif_sine(n=120, seed=3, **kw),
    "izhikevich": lambda **kw: F.izhikevich_sine(n=120, seed=3, **kw),
    "theta": lambda **kw: F.theta_sine(n=120, seed=3, **kw),
}


def _reference_run(net: F.ForceNetwork, steps: int, learn_from: int, gain: str) -> dict:
    st = net.state()
    y = _sine((1 + np.arange(steps)) * net.dt)
    learn = np.arange(steps) >= learn_from
    return simulate(
        net.static_weights(),
        net.encoders,
        st["v"],
        st["u"],
        net.config["model"],
        dt=net.dt,
        tau_rise=net.config["tau_rise"],
        tau_decay=net.config["tau_decay"],
        target=y,
        learn=learn,
        rls_every=net.config["rls_every"],
        lam=net.config["lambda"],
        exact_gain=gain == "exact",
    )


@pytest.mark.parametrize("kind", ["lif", "izhikevich", "theta"])
@pytest.mark.parametrize("gain", ["exact", "reference"])
def test_reservoir_matches_numpy_reference(kind: str, gain: str) -> None:
    """Neuron model, filters, spike propagation, feedback and RLS: the same spikes and readout as the
    dense numpy loop, over a free period then a learning period."""
    net = PRESETS[kind](rls_gain=gain)
    steps_free = steps_learn = int(round(0.1 / net.dt))
    ref = _reference_run(net, steps_free + steps_learn, steps_free, gain)
    a = net.run(steps_free * net.dt, _sine, record_spikes=True)
    b = net.run(steps_learn * net.dt, _sine, learn=True, record_spikes=True)
    z = np.concatenate([a.z, b.z])
    times = np.concatenate([a.spike_times, b.spike_times])
    ids = np.concatenate([a.spike_ids, b.spike_ids])
    steps = np.rint(times / net.dt).astype(int)
    want = [(i + 1, j) for i, s in enumerate(ref["spikes"]) for j in s]
    assert len(want) > 50, "the reservoir should spike"
    assert list(zip(steps.tolist(), ids.tolist(), strict=True)) == want
    scale = np.abs(ref["z"]).max()
    assert scale > 0, "learning should move the readout"
    np.testing.assert_allclose(z, ref["z"], rtol=0, atol=1e-8 * scale)
    np.testing.assert_allclose(net.decoders, ref["d"], rtol=0, atol=1e-8 * np.abs(ref["d"]).max())
    np.testing.assert_allclose(net.state()["v"], ref["v"], rtol=1e-9, atol=1e-9)


def test_two_outputs_and_padding_match_numpy_reference() -> None:
    """k = 2 outputs and a neuron count that does not fill the last block of eight (n = 123): the same
    spikes, readouts and decoders as the dense numpy loop."""
    net = F.izhikevich_sine(n=123, k=2, seed=4)
    steps_free = steps_learn = int(round(0.08 / net.dt))
    steps = steps_free + steps_learn

    def target(t: np.ndarray) -> np.ndarray:
        return np.stack([np.sin(2 * np.pi * 5 * t), np.cos(2 * np.pi * 3 * t)], axis=1)

    st = net.state()
    ref = simulate(
        net.static_weights(),
        net.encoders,
        st["v"],
        st["u"],
        net.config["model"],
        dt=net.dt,
        tau_rise=net.config["tau_rise"],
        tau_decay=net.config["tau_decay"],
        target=target((1 + np.arange(steps)) * net.dt),
        learn=np.arange(steps) >= steps_free,
        rls_every=net.config["rls_every"],
        lam=net.config["lambda"],
    )
    a = net.run(steps_free * net.dt, target, record_spikes=True)
    b = net.run(steps_learn * net.dt, target, learn=True, record_spikes=True)
    ids = np.concatenate([a.spike_ids, b.spike_ids])
    steps_of = np.rint(np.concatenate([a.spike_times, b.spike_times]) / net.dt).astype(int)
    want = [(i + 1, j) for i, s in enumerate(ref["spikes"]) for j in s]
    assert len(want) > 50 and any(j >= 120 for _, j in want), "the last, partial block should spike"
    assert list(zip(steps_of.tolist(), ids.tolist(), strict=True)) == want
    z = np.concatenate([a.z, b.z])
    np.testing.assert_allclose(z, ref["z"], rtol=0, atol=1e-8 * np.abs(ref["z"]).max())
    np.testing.assert_allclose(net.decoders, ref["d"], rtol=0, atol=1e-8 * np.abs(ref["d"]).max())
    np.testing.assert_allclose(net.state()["u"], ref["u"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("every", [1, 7])
def test_rls_decoders_equal_ridge_regression(every: int) -> None:
    """With P(0) = I / lam, the decoders after RLS on the samples (r_m, y_m) of the update steps are
    (R^T R + lam I)^-1 R^T Y, and P = (R^T R + lam I)^-1."""
    net = F.lif_sine(n=150, seed=5, rls_every=every)
    net.run(0.1, _sine)
    run = net.run(0.2, _sine, learn=True, record_updates=True)
    R, Y = run.update_rates, run.update_targets
    assert R.shape == (net.rls_updates, 150) and Y.shape == (net.rls_updates, 1)
    assert net.rls_updates == -(-4000 // every)
    lam = net.config["lambda"]
    A = R.T @ R + lam * np.eye(150)
    d = np.linalg.solve(A, R.T @ Y)
    assert np.linalg.norm(net.decoders - d) <= 1e-6 * np.linalg.norm(d)
    P = net.rls_matrix()
    np.testing.assert_array_equal(P, P.T)
    assert np.linalg.norm(P @ A - np.eye(150)) < 1e-6


def test_float32_rls_matrix() -> None:
    """P stored in float32 (arithmetic in float64, each entry rounded to float32 when written): the
    decoders stay close to the ridge-regression solve. Each stored entry carries a relative rounding
    error of up to 2^-24 ~ 6e-8, which the solve amplifies by at most the condition number of
    A = R^T R + lam I (~1.7e3 here): 1e-4 relative for d, ~1e-3 for P A - I (times sqrt(n) for the
    Frobenius norm). Measured: 1.4e-6 and 6e-4 (the float64 run agrees to 1e-6 and 1e-6)."""
    out = {}
    for precision in ("float64", "float32"):
        net = F.lif_sine(n=150, seed=5, rls_every=1, rls_precision=precision)
        net.run(0.1, _sine)
        run = net.run(0.2, _sine, learn=True, record_updates=True)
        out[precision] = (net.decoders, run.update_rates, run.update_targets, net.rls_matrix())
    R, Y = out["float32"][1], out["float32"][2]
    lam = 1.0 / (0.1 * 5e-5)
    A = R.T @ R + lam * np.eye(150)
    d = np.linalg.solve(A, R.T @ Y)
    err = np.linalg.norm(out["float32"][0] - d) / np.linalg.norm(d)
    assert err < 1e-4, err
    assert np.linalg.cond(A) < 1e4
    P = out["float32"][3]
    np.testing.assert_array_equal(P, P.T)
    assert np.all(P.astype(np.float32) == P), "entries should be float32 values"
    assert np.linalg.norm(P @ A - np.eye(150)) < 5e-3


def test_results_do_not_depend_on_thread_count() -> None:
    """The parallel RLS pass (n >= 768) gives bit-identical decoders and P for 1 and 2 threads, with P
    in float64 and float32."""
    for precision in ("float64", "float32"):
        out = []
        for threads in (1, 2):
            net = F.lif_sine(n=800, seed=2, rls_precision=precision)
            net.run(0.05, threads=threads)
            net.run(0.1, _sine, learn=True, threads=threads)
            out.append((net.decoders, net.rls_matrix()))
        np.testing.assert_array_equal(out[0][0], out[1][0])
        np.testing.assert_array_equal(out[0][1], out[1][1])


def test_lif_reservoir_learns_sine() -> None:
    """FORCE with the LIF preset (N = 500): correlation > 0.9 with the 5 Hz sine over the test period
    (decoders frozen, RLS off)."""
    net = F.lif_sine(n=500, seed=1)
    res = F.train_force(net, _sine, settle=1.0, learn=2.0, test=2.0)
    assert res.rls_updates == 800
    assert res.correlation > 0.9, res.metrics()
    assert 1.0 < res.rate_hz < 200.0


def test_callback_stops_run_cleanly() -> None:
    seen = []

    def cb(info: dict) -> bool:
        seen.append(info)
        return len(seen) < 2

    net = F.lif_sine(n=100, seed=0)
    run = net.run(1.0, _sine, callback=cb, report_every=0.1)
    assert run.interrupted and len(seen) == 2
    assert run.duration == pytest.approx(0.2)
    assert seen[0]["time"] == pytest.approx(0.1) and seen[0]["rate_hz"] >= 0 and seen[0]["mse"] >= 0
    assert net.time == pytest.approx(0.2)
    again = net.run(0.1, _sine)
    assert not again.interrupted and net.time == pytest.approx(0.3)


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(InvalidParameterError, match="neuron"):
        F.ForceNetwork(10, "lif", dt=1e-4, g=1, q=1, lam=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="rls_gain"):
        F.lif_sine(n=10, rls_gain="fast")
    with pytest.raises(InvalidParameterError, match="rls_precision"):
        F.lif_sine(n=10, rls_precision="float16")
    with pytest.raises(InvalidParameterError, match="p"):
        F.lif_sine(n=10, p=0.0)
    with pytest.raises(InvalidParameterError, match="lam"):
        F.lif_sine(n=10, lam=-1.0)
    with pytest.raises(InvalidParameterError, match="v_reset"):
        F.ForceNetwork(10, F.LIF(v_reset=-30.0), dt=1e-4, g=1, q=1, lam=1)
    net = F.lif_sine(n=10)
    with pytest.raises(InvalidParameterError, match="target"):
        net.run(0.01, learn=True)
    with pytest.raises(ShapeError, match="target"):
        net.run(0.01, np.zeros((3, 1)))
    with pytest.raises(InvalidParameterError, match="target"):
        net.run(0.001, np.full(20, np.nan))
    with pytest.raises(ShapeError, match="decoders"):
        net.decoders = np.zeros((3, 1))


def test_train_force_runs_long_phases_in_pieces_with_the_same_result(monkeypatch) -> None:
    """Settle and learn run in calls of at most `_PIECE` steps (so no call materialises a huge target):
    pieces that split RLS intervals give the decoders, P and test readout of one call per phase."""
    results = []
    for piece in (1 << 20, 37):
        monkeypatch.setattr(F, "_PIECE", piece)
        net = F.lif_sine(n=120, seed=3)
        res = F.train_force(net, _sine, settle=0.01, learn=0.02, test=0.01)
        results.append((net.decoders, net.rls_matrix(), res.z, res.rls_updates))
    assert results[0][3] == results[1][3] > 0
    for a, b in zip(results[0][:3], results[1][:3], strict=True):
        np.testing.assert_array_equal(a, b)


def test_runs_too_long_to_hold_are_refused_before_any_work() -> None:
    net = F.lif_sine(n=20, seed=0)
    with pytest.raises(InvalidParameterError, match=r"duration: expected the run's target and recorded readout"):
        net.run(1e7, _sine)
    with pytest.raises(InvalidParameterError, match=r"test: expected the run's target"):
        F.train_force(net, _sine, settle=0.0, learn=0.0, test=1e7)
    with pytest.raises(InvalidParameterError, match=r"learn: expected at most 2\^53 steps"):
        F.train_force(net, _sine, settle=0.0, learn=1e300, test=0.01)
    assert net.time == 0.0  # nothing ran


def test_diverging_reservoir_raises() -> None:
    net = F.lif_sine(n=50, seed=0)
    net.decoders = np.full((50, 1), 1e308)
    with pytest.raises(Exception, match="readout"):
        net.run(0.05)


def test_targets() -> None:
    t = np.arange(0, 4.0, 1e-3)
    # Ode to Joy: at each slot's centre exactly the score's note sounds at full height.
    y = T.make_ode_to_joy()(t)
    assert y.shape == (t.size, 5)
    J, HN = T.ode_to_joy_score()
    for slot in range(16):
        if HN[slot] or (slot > 0 and HN[slot - 1]):
            continue
        row = y[int((slot * 0.25 + 0.125) / 1e-3)]
        np.testing.assert_allclose(row, J[slot], atol=1e-9)
    half = y[int((14 * 0.25 + 0.25) / 1e-3)]  # middle of the closing half note (D)
    np.testing.assert_allclose(half, [0, 1, 0, 0, 0], atol=1e-9)
    assert np.allclose(T.make_ode_to_joy()(t + 4.0), y)
    # Van der Pol: RK4 converged (halving the step changes nothing), a relaxation limit cycle.
    a = T.make_van_der_pol(3.0, fine_dt=2e-4)(t[:2000])
    b = T.make_van_der_pol(3.0, fine_dt=1e-4)(t[:2000])
    assert a.shape == (2000, 2) and np.abs(a - b).max() < 1e-4 * np.abs(b).max()
    assert 0.15 < np.abs(b[:, 0]).max() < 0.25  # |y1| peaks near 2 / md
    lor = T.make_lorenz(2.0)(t[:2000])
    assert lor.shape == (2000, 3) and np.all(np.isfinite(lor)) and np.abs(lor).max() < 1.0
    np.testing.assert_allclose(T.make_sawtooth(5.0)(np.array([0.0, 0.1, 0.19])).ravel(), [-1.0, 0.0, 0.9], atol=1e-12)
    with pytest.raises(InvalidParameterError, match="t:"):
        T.make_van_der_pol(1.0)(np.array([2.0]))
