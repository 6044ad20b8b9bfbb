"""The protocol on real ONNX Runtime sessions of small hand-built graphs (no torch needed)."""

import itertools
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidProtobuf

from hwnas.devices import get
from hwnas.profiling.backends.ort import OrtBackend, OrtRunner
from hwnas.profiling.protocol import block_runs, measure_batch, summarise


def _matmul_chain(path, width, layers):
    """x(1, width) -> `layers` MatMul+Relu with random width x width weights."""
    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "image"
    for i in range(layers):
        w = helper.make_tensor(
            f"w{i}", TensorProto.FLOAT, [width, width], rng.standard_normal(width * width).astype(np.float32).tolist()
        )
        inits.append(w)
        nodes += [
            helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]),
            helper.make_node("Relu", [f"m{i}"], [f"r{i}"]),
        ]
        prev = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, width])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture
def quick_cpu():
    return get("cpu").with_(rounds=4, warmup_runs=4, block_ms=2.0)


def test_bigger_model_measures_slower_with_spread_and_blocks(tmp_path, quick_cpu):
    small = OrtRunner(_matmul_chain(tmp_path / "s.onnx", 64, 2), quick_cpu)
    big = OrtRunner(_matmul_chain(tmp_path / "b.onnx", 512, 8), quick_cpu)
    res = measure_batch({"s": small, "b": big}, quick_cpu, np.random.default_rng(0))
    s, b = res["s"], res["b"]
    assert b.latency_ms > 3 * s.latency_ms > 0
    for m in (s, b):
        assert len(m.block_ms) == quick_cpu.rounds and m.runs >= len(m.block_ms)
        assert 0 <= m.spread < 10 and m.latency_ms <= m.median_ms
        assert 1 <= m.attempts <= quick_cpu.max_retries + 1 and m.warmup_runs >= 5  # first run + two chunks


def test_a_lazy_runner_opens_when_timed_and_can_be_released(tmp_path, quick_cpu):
    r = OrtBackend().open(quick_cpu, _matmul_chain(tmp_path / "s.onnx", 64, 2))
    assert r.session is None and math.isnan(r.setup_s)
    assert len(r.time_runs(3)) == 3 and r.setup_s > 0
    r.release()
    assert r.session is None and len(r.time_runs(1)) == 1  # opened again


def test_corrupt_model_fails_to_load(tmp_path, quick_cpu):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(InvalidProtobuf):
        OrtRunner(bad, quick_cpu)


def test_model_that_fails_at_run_time_is_reported_and_others_measured(tmp_path, quick_cpu):
    # Reshape to a shape fixed by a second graph input: 4 values cannot become 3x3 -> fails in run().
    node = helper.make_node("Reshape", ["image", "shape"], ["out"])
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [3, 3])
    graph = helper.make_graph(
        [node],
        "bad",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        [shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "reshape.onnx"
    onnx.save(model, path)
    bad = OrtRunner(path, quick_cpu)  # loads: the shape mismatch shows only when it runs
    good = OrtRunner(_matmul_chain(tmp_path / "g.onnx", 64, 2), quick_cpu)
    res = measure_batch({"bad": bad, "good": good}, quick_cpu, np.random.default_rng(0))
    assert isinstance(res["bad"], str) and "run failed" in res["bad"]
    assert res["good"].latency_ms > 0


def test_block_runs_and_summary():
    dev = get("cpu")
    assert block_runs(0.5, dev) == 40 and block_runs(100.0, dev) == dev.min_block_runs == 1
    lat, med, per_block, spread, runs = summarise([[1.0, 2.0, 3.0], [1.0, 1.0, 9.0]])
    assert runs == 6 and lat == pytest.approx(1.0) and med == pytest.approx(1.5) and len(per_block) == 2


class _Counting:
    """A real runner that counts its timed blocks (warm-up chunks included)."""

    releasable, live = False, True

    def __init__(self, runner: OrtRunner) -> None:
        self.runner, self.blocks = runner, 0

    def time_runs(self, k: int) -> list[float]:
        self.blocks += 1
        return self.runner.time_runs(k)


def test_a_re_measured_record_keeps_the_references_of_its_own_attempt(tmp_path, quick_cpu):
    dev = quick_cpu.with_(max_spread=1e-9, max_retries=2)  # every record is wide: three attempts each
    ref = _Counting(OrtRunner(_matmul_chain(tmp_path / "r.onnx", 64, 2), dev))
    sub = OrtRunner(_matmul_chain(tmp_path / "s.onnx", 256, 4), dev)
    res = measure_batch({"r": ref, "s": sub}, dev, np.random.default_rng(0), references=["r"])
    s, r = res["s"], res["r"]
    assert s.attempts == 3 and set(s.refs) == {"r"} and s.refs["r"] > 0
    # the reference is timed (warmed up again) in every attempt but keeps its first, itself unreferenced
    assert ref.blocks > 3 * (len(r.block_ms) + 2) and r.attempts == 1 and r.refs == {}
    plain = measure_batch({"s": sub}, dev.with_(max_retries=0), np.random.default_rng(0))["s"]
    assert plain.refs == {} and plain.attempts == 1


def test_past_the_memory_budget_sessions_open_with_their_group_once(tmp_path, quick_cpu, monkeypatch):
    from hwnas.profiling import measurer, protocol

    opened: list[str] = []
    real_open = OrtRunner._open

    def counting_open(self):
        opened.append(self.path)
        real_open(self)

    monkeypatch.setattr(OrtRunner, "_open", counting_open)
    growing = itertools.count(0, 1 << 40)  # memory grows by 1 TiB at every look: every model is past the
    monkeypatch.setattr(measurer, "resident_bytes", lambda: next(growing))  # budget, none is opened up front,
    monkeypatch.setattr(protocol, "resident_bytes", lambda: next(growing))  # and groups are of one
    paths = [_matmul_chain(tmp_path / f"{i}.onnx", 64 * (i + 1), 2) for i in range(3)]
    res = measurer.measure_files(quick_cpu, paths, seed=0)
    assert all(r.measurement is not None and r.setup_s > 0 for r in res.results)
    assert sorted(opened) == sorted(str(p) for p in paths)  # each session made once, by the protocol
    lat = [r.measurement.latency_ms for r in res.results]
    assert lat[2] > lat[0]
