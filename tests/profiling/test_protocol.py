"""The protocol on real ONNX Runtime sessions of small hand-built graphs (no torch needed)."""

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidProtobuf

from hwnas.devices import get
from hwnas.profiling.backends.ort import OrtRunner
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
        assert len(m.block_ms) == quick_cpu.rounds and m.runs >= quick_cpu.rounds * quick_cpu.min_block_runs
        assert 0 <= m.spread < 10 and m.latency_ms <= m.median_ms
        assert 1 <= m.attempts <= quick_cpu.max_retries + 1 and m.warmup_runs >= quick_cpu.warmup_runs


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
    assert block_runs(0.5, dev) == 40 and block_runs(100.0, dev) == dev.min_block_runs
    lat, med, per_block, spread, runs = summarise([[1.0, 2.0, 3.0], [1.0, 1.0, 9.0]])
    assert runs == 6 and lat == pytest.approx(1.0) and med == pytest.approx(1.5) and len(per_block) == 2


class _Counting:
    """A real runner that counts its timed blocks (warm-up chunks included)."""

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
    # the reference is timed in every attempt but keeps its first (the batch's figure), itself unreferenced
    warm_chunks = r.warmup_runs // max(3, math.ceil(dev.warmup_runs / 2))
    assert ref.blocks - warm_chunks == 3 * dev.rounds and r.attempts == 1 and r.refs == {}
    plain = measure_batch({"s": sub}, dev.with_(max_retries=0), np.random.default_rng(0))["s"]
    assert plain.refs == {} and plain.attempts == 1
