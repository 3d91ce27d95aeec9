"""NIR interchange: spikeloom networks against an independent step-by-step interpreter of the NIR graph,
round trips through graphs and files, refusals of what NIR cannot express, and snnTorch's own exports."""

from __future__ import annotations

import numpy as np
import pytest
import spikeloom as sl
from spikeloom import nir_io
from spikeloom.errors import FileFormatError, InvalidParameterError, UnsupportedError

nir = pytest.importorskip("nir")

DT = 1e-3


def interpret(graph, x: np.ndarray, dt: float, how: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Step a flat NIR graph from its equations (the docstring's discretisation), one sample ``x [T, n_in]``.

    Nodes are evaluated in the graph's order each step; an input from a node not yet evaluated in this
    step is that node's output from the previous step (its zero-input output at the start), which is how a recurrent
    edge is delayed by one step. Returns every spiking node's spikes ``[T, n]`` and the output ``[T, n_out]``.
    """
    names = list(graph.nodes)
    preds = {k: [a for a, b in graph.edges if b == k] for k in names}
    # Before the first step every node holds its output for zero input: an Affine node its bias.
    out = {k: (graph.nodes[k].bias if type(graph.nodes[k]).__name__ == "Affine" else None) for k in names}
    state: dict[str, dict[str, np.ndarray]] = {}
    spikes: dict[str, list[np.ndarray]] = {}
    result = []

    def decay_gain(tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tau = np.asarray(tau, dtype=np.float64)
        if how == "exact":
            return np.exp(-dt / tau), 1.0 - np.exp(-dt / tau)
        return 1.0 - dt / tau, dt / tau

    for t in range(x.shape[0]):
        done: set[str] = set()
        for k in names:
            node = graph.nodes[k]
            kind = type(node).__name__
            if kind == "Input":
                val = x[t].astype(np.float64)
            else:
                parts = [out[p] for p in preds[k] if out[p] is not None]
                inp = np.sum(parts, axis=0) if parts else 0.0
                if kind == "Affine":
                    val = node.weight @ inp + node.bias
                elif kind == "Linear":
                    val = node.weight @ inp
                elif kind in ("LIF", "CubaLIF", "LI"):
                    s = state.setdefault(k, {"v": 0.0, "i": 0.0})
                    if kind == "CubaLIF":
                        ds, gs = decay_gain(node.tau_syn)
                        s["i"] = ds * s["i"] + gs * node.w_in * inp
                        drive = s["i"]
                        d, g = decay_gain(node.tau_mem)
                    else:
                        drive = inp
                        d, g = decay_gain(node.tau)
                    s["v"] = d * s["v"] + g * (node.v_leak + node.r * drive)
                    if kind == "LI":
                        val = s["v"]
                    else:
                        z = (s["v"] > node.v_threshold).astype(np.float64)
                        s["v"] = np.where(z > 0, node.v_reset, s["v"])
                        spikes.setdefault(k, []).append(z)
                        val = z
                elif kind == "Output":
                    result.append(inp)
                    val = inp
                else:
                    raise AssertionError(f"interpreter: no rule for {kind}")
            out[k] = val
            done.add(k)
    return {k: np.array(v) for k, v in spikes.items()}, np.array(result)


def matches_interpreter(net, graph, spiking: list[str], x: np.ndarray, how: str, rtol: float) -> int:
    """Assert that spikeloom (float64) and :func:`interpret` give the same spikes for the graph's spiking
    nodes ``spiking`` (in layer order) and the same readout to ``rtol``; returns the spikes compared."""
    rec = net.run(x, precision="float64")
    total = 0
    for s in range(x.shape[0]):
        spk, y = interpret(graph, x[s], DT, how)
        for layer, name in enumerate(spiking):
            assert np.array_equal(spk[name], rec.spikes[layer][s]), (name, s)
            total += int(spk[name].sum())
        np.testing.assert_allclose(y, rec.readout[s], rtol=rtol, atol=1e-12)
    return total


def make_net(seed: int = 1, scale: str = "one") -> sl.RecurrentNetwork:
    return sl.RecurrentNetwork(
        3,
        [
            sl.SpikingLayer.cuba(12, reset="zero", tau_mem_sd=3e-3, tau_syn_sd=1e-3, gain=3.0),
            sl.SpikingLayer.lif(7, recurrent=True, reset="zero", input_scale=scale, tau_mem_sd=4e-3, gain=3.0),
        ],
        sl.Readout(4, tau_sd=5e-3),
        dt=DT,
        seed=seed,
    )


def inputs(steps: int = 150, samples: int = 3, n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((samples, steps, n)) < 0.3


@pytest.mark.parametrize("how", ["exact", "euler"])
def test_exported_graph_run_by_an_interpreter_of_the_nir_equations_matches_spikeloom(how: str) -> None:
    net = make_net(scale="one_minus_alpha")
    x = inputs()
    graph = nir_io.to_nir(net, how)
    # The comparison covers many spikes, resets and recurrent deliveries.
    assert matches_interpreter(net, graph, ["layers.0", "layers.1"], x, how, rtol=1e-10) > 100


def test_a_graph_written_elsewhere_runs_as_its_equations_say() -> None:
    """Import: per-neuron thresholds, a leak voltage, a bias-free input, a recurrent Affine, a CubaLIF
    readout layer's w_in and r, all folded into spikeloom's weights."""
    rng = np.random.default_rng(3)
    n_in, n1, n2, n_out = 4, 9, 6, 3
    w_rec = rng.normal(0, 0.6, (n1, n1))
    np.fill_diagonal(w_rec, 0.0)
    graph = nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type=np.array([n_in])),
            "fc1": nir.Linear(weight=rng.normal(0.5, 1.0, (n1, n_in))),
            "lif1": nir.LIF(
                tau=rng.uniform(8e-3, 30e-3, n1),
                r=rng.uniform(0.5, 2.0, n1),
                v_leak=rng.uniform(-0.1, 0.3, n1),
                v_threshold=rng.uniform(0.5, 1.5, n1),
                v_reset=np.zeros(n1),
            ),
            "rec1": nir.Affine(weight=w_rec, bias=rng.normal(0, 0.05, n1)),
            "fc2": nir.Affine(weight=rng.normal(0.3, 1.0, (n2, n1)), bias=rng.normal(0, 0.1, n2)),
            "cuba2": nir.CubaLIF(
                tau_syn=rng.uniform(3e-3, 8e-3, n2),
                tau_mem=rng.uniform(10e-3, 20e-3, n2),
                r=rng.uniform(1.0, 3.0, n2),
                v_leak=np.zeros(n2),
                v_threshold=np.full(n2, 0.8),
                v_reset=np.zeros(n2),
                w_in=rng.uniform(1.0, 4.0, n2),
            ),
            "fc3": nir.Affine(weight=rng.normal(0, 1.0, (n_out, n2)), bias=rng.normal(0, 0.1, n_out)),
            "li": nir.LI(tau=rng.uniform(10e-3, 40e-3, n_out), r=rng.uniform(1, 5, n_out), v_leak=np.full(n_out, 0.2)),
            "out": nir.Output(output_type=np.array([n_out])),
        },
        edges=[
            ("in", "fc1"),
            ("fc1", "lif1"),
            ("lif1", "rec1"),
            ("rec1", "lif1"),
            ("lif1", "fc2"),
            ("fc2", "cuba2"),
            ("cuba2", "fc3"),
            ("fc3", "li"),
            ("li", "out"),
        ],
    )
    x = inputs(200, 2, n_in, seed=5)
    for how in ("exact", "euler"):
        net = nir_io.from_nir(graph, dt=DT, discretisation=how)
        assert [layer.size for layer in net.layers] == [n1, n2] and net.readout.size == n_out
        assert net.layers[0].recurrent and not net.layers[1].recurrent and net.layers[1].tau_syn is not None
        assert matches_interpreter(net, graph, ["lif1", "cuba2"], x, how, rtol=1e-9) > 50


def assert_same_run(a_net: sl.RecurrentNetwork, b_net: sl.RecurrentNetwork, x: np.ndarray) -> None:
    """The same spikes in every layer and the same readout to rounding (float64 runs)."""
    a, b = a_net.run(x, precision="float64"), b_net.run(x, precision="float64")
    assert len(a.spikes) == len(b.spikes)
    for s1, s2 in zip(a.spikes, b.spikes, strict=True):
        assert np.array_equal(s1, s2)
    assert sum(int(s.sum()) for s in a.spikes) > 100
    np.testing.assert_allclose(b.readout, a.readout, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("how", ["exact", "euler"])
def test_round_trip_keeps_the_parameters_and_the_run(how: str) -> None:
    net = make_net(seed=4)
    back = nir_io.from_nir(nir_io.to_nir(net, how))  # dt and discretisation from the graph's metadata
    assert back.dt == net.dt
    p, q = net.parameters(), back.parameters()
    assert set(p) == set(q)
    for k in p:
        np.testing.assert_allclose(q[k], p[k], rtol=1e-12, atol=1e-15, err_msg=k)
    assert_same_run(net, back, inputs(seed=2))


def test_file_round_trip_is_atomic_and_reads_back(tmp_path) -> None:
    net = make_net(seed=7)
    path = tmp_path / "net.nir"
    nir_io.save_nir(net, path)
    assert path.exists() and [p.name for p in tmp_path.iterdir()] == ["net.nir"]  # no temporary left
    back = nir_io.load_nir(path)
    assert_same_run(net, back, inputs(seed=9))
    # A failed write leaves the old file alone.
    before = path.read_bytes()
    with pytest.raises(UnsupportedError):
        nir_io.save_nir(sl.RecurrentNetwork(2, [sl.SpikingLayer.lif(3)], dt=DT), path)
    assert path.read_bytes() == before


def test_what_nir_cannot_express_is_refused_with_the_reason(tmp_path) -> None:
    with pytest.raises(UnsupportedError, match=r"layers.0.reset: expected 'zero'.*got 'subtract'"):
        nir_io.to_nir(sl.RecurrentNetwork(2, [sl.SpikingLayer.lif(3)], dt=DT))
    with pytest.raises(UnsupportedError, match=r"layers.0.adaptation"):
        nir_io.to_nir(sl.RecurrentNetwork(2, [sl.SpikingLayer.alif_bellec(3, reset="zero")], dt=DT))
    with pytest.raises(InvalidParameterError, match="discretisation"):
        nir_io.to_nir(make_net(), "rk4")
    with pytest.raises(InvalidParameterError, match="net: expected a RecurrentNetwork"):
        nir_io.to_nir(sl.TTFSNetwork([2, 3, 2]))

    def graph(neuron, w_rec=None) -> nir.NIRGraph:
        nodes = {
            "in": nir.Input(input_type=np.array([2])),
            "fc": nir.Linear(weight=np.ones((3, 2))),
            "n": neuron,
            "out": nir.Output(output_type=np.array([3])),
        }
        edges = [("in", "fc"), ("fc", "n"), ("n", "out")]
        if w_rec is not None:
            nodes["rec"] = nir.Linear(weight=w_rec)
            edges += [("n", "rec"), ("rec", "n")]
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)

    ones, zeros = np.ones(3), np.zeros(3)
    lif = nir.LIF(tau=ones * 0.02, r=ones, v_leak=zeros, v_threshold=ones, v_reset=zeros)
    assert nir_io.from_nir(graph(lif), dt=DT).layers[0].size == 3
    with pytest.raises(InvalidParameterError, match="dt: expected the simulation step"):
        nir_io.from_nir(graph(lif))
    with pytest.raises(UnsupportedError, match="v_reset = 0"):
        nir_io.from_nir(graph(nir.LIF(tau=ones * 0.02, r=ones, v_leak=zeros, v_threshold=ones, v_reset=-ones)), dt=DT)
    with pytest.raises(UnsupportedError, match="self-connections.*3 non-zero diagonal"):
        nir_io.from_nir(graph(lif, w_rec=np.ones((3, 3))), dt=DT)
    with pytest.raises(UnsupportedError, match="v_leak = 0 for a CubaLIF"):
        cuba = nir.CubaLIF(tau_syn=ones * 5e-3, tau_mem=ones * 0.02, r=ones, v_leak=ones, v_threshold=ones)
        nir_io.from_nir(graph(cuba), dt=DT)
    with pytest.raises(UnsupportedError, match="expected a LIF, CubaLIF or LI neuron node, got IF"):
        nir_io.from_nir(graph(nir.IF(r=ones, v_threshold=ones)), dt=DT)
    li = nir.LI(tau=ones * 0.02, r=ones, v_leak=zeros)
    with pytest.raises(UnsupportedError, match="expected a spiking population before the LI readout"):
        nir_io.from_nir(graph(li), dt=DT)
    with pytest.raises(InvalidParameterError, match="shorter than every time constant"):
        nir_io.from_nir(graph(lif), dt=0.05, discretisation="euler")
    with pytest.raises(FileNotFoundError, match="path: expected a NIR file"):
        nir_io.load_nir(tmp_path / "missing.nir")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(FileFormatError, match="path: expected a NIR HDF5 file"):
        nir_io.load_nir(bad)


def test_snntorch_export_runs_as_in_snntorch() -> None:
    """snnTorch writes forward-Euler graphs with its own dt = 1e-4 s (tau = dt / (1 - beta), r = tau / dt):
    read that way, spikeloom reproduces snnTorch's spikes step for step."""
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")  # snnTorch's exporter needs it
    from snntorch import utils as snn_utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    n_in, n_hid, n_out, steps = 5, 16, 4, 120
    fc1, fc2 = torch.nn.Linear(n_in, n_hid), torch.nn.Linear(n_hid, n_out)
    # Per-neuron beta and threshold: snnTorch's exporter gives scalar ones the wrong shape for NIR.
    # Feed-forward Leaky layers: snnTorch's RLeaky with reset "zero" also drops the input of the step
    # after a spike, which NIR's equations (and spikeloom) do not.
    lif1, lif2 = (
        snn.Leaky(beta=torch.full((n,), b), threshold=torch.ones(n), reset_mechanism="zero", init_hidden=True, output=o)
        for n, b, o in ((n_hid, 0.9, False), (n_out, 0.8, True))
    )
    with torch.no_grad():
        fc1.weight.mul_(3.0)
        fc2.weight.mul_(6.0)
    model = torch.nn.Sequential(fc1, lif1, fc2, lif2)
    graph = export_to_nir(model, torch.zeros(n_in))
    net = nir_io.from_nir(graph, dt=1e-4, discretisation="euler")

    x = inputs(steps, 2, n_in, seed=11)
    rec = net.run(x, precision="float64")
    for s in range(x.shape[0]):
        snn_utils.reset(model)
        hid, out = [], []
        with torch.no_grad():
            for t in range(steps):
                z_hid = lif1(fc1(torch.tensor(x[s, t : t + 1], dtype=torch.float32)))
                z_out, _ = lif2(fc2(z_hid))
                hid.append(z_hid.numpy()[0].copy())
                out.append(z_out.numpy()[0].copy())
        # snnTorch runs in float32 (its spike function returns float32), spikeloom here in float64:
        # with these seeds no membrane comes within rounding of a threshold, so every spike agrees.
        assert np.array_equal(np.array(hid), rec.spikes[0][s])
        assert np.array_equal(np.array(out), rec.spikes[1][s])
        assert np.array(hid).sum() > 20 and np.array(out).sum() > 5
