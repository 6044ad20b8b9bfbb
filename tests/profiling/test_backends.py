"""The runtime backends: registry, typed runners on real ONNX Runtime sessions, clocks, fingerprints,
and the rule that only a backend knows its runtime's name."""

import ast
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import hwnas
from hwnas.core.errors import ConfigError, DeviceUnavailableError, UnknownNameError
from hwnas.devices import Device, get
from hwnas.profiling import backends
from hwnas.profiling.backends import Runner, backend, backend_for, fingerprint, open_runner, require_available
from hwnas.profiling.record import LatencyRecord


def _relu_model(path, batch="N"):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["image"], ["out"])],
        "relu",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [batch, 8])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_registry_knows_the_runtimes_and_refuses_others():
    assert backends.names() == ["onnxruntime", "tensorrt", "torch"]
    assert backend("onnxruntime").name == "onnxruntime" and backend("tensorrt").name == "tensorrt"
    with pytest.raises(UnknownNameError, match="known: onnxruntime, tensorrt, torch"):
        backend("openvino")
    with pytest.raises(ConfigError, match="runtime must be one of"):
        Device("x", "openvino")


def test_clock_of_each_device():
    assert backend_for(get("cpu")).clock(get("cpu")) == "thread"
    assert backend_for(get("cpu-mt")).clock(get("cpu-mt")) == "wall"
    assert backend_for(get("gpu-trt")).clock(get("gpu-trt")) == "cuda-event"
    cfg = hwnas.core.SubnetConfig(16, 1, (1.0,), (1,))
    assert LatencyRecord.for_config(cfg, get("gpu-trt"), "s", "d").clock == "cuda-event"
    assert LatencyRecord.for_config(cfg, get("cpu"), "s", "d").clock == "thread"


def test_ort_runner_has_the_full_interface_and_binds_the_device_batch(tmp_path):
    import onnxruntime as ort

    dev = get("cpu").with_(name="cpu-b3", batch_size=3)
    with open_runner(dev, _relu_model(tmp_path / "m.onnx"), seed=1) as r:
        assert isinstance(r, Runner) and r.session is None  # opened lazily, when first timed
        times = r.time_runs(5)
        assert r.setup_s > 0 and r.runtime_version == ort.__version__
        assert len(times) == 5 and all(t >= 0 for t in times)
        out = r.binding.copy_outputs_to_cpu()[0]  # the run really used a batch of 3
        assert out.shape == (3, 8) and (out >= 0).all() and np.count_nonzero(out) > 0
    assert r.session is None  # closed on leaving the block
    assert backend("onnxruntime").version() == ort.__version__


def test_unusable_device_raises_one_line():
    with pytest.raises(DeviceUnavailableError) as e:
        require_available(get("cpu").with_(name="cpu-many", threads=10_000, clock="wall"))
    assert "\n" not in str(e.value) and "physical cores" in str(e.value)


def test_fingerprint_names_cpu_cores_and_runtime():
    fp = fingerprint(get("cpu"))
    assert fp["cpu"] and int(fp["cores"]) >= 1 and fp["runtime"].startswith("onnxruntime ")
    gpu = fingerprint(get("gpu-trt"))  # no GPU here: still the CPU part, without failing
    assert gpu["cpu"] == fp["cpu"] and gpu["runtime"].startswith("tensorrt")


def _runtime_comparisons(path: Path) -> list[str]:
    names = set(backends.names())
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):  # rt == "tensorrt", rt in ("onnxruntime", ...)
            operands = [node.left, *node.comparators]
            operands += [e for n in operands if isinstance(n, (ast.Tuple, ast.List, ast.Set)) for e in n.elts]
        elif isinstance(node, ast.Dict):  # {"onnxruntime": check_ort, ...}[rt]
            operands = [k for k in node.keys if k is not None]
        else:
            continue
        if any(isinstance(n, ast.Constant) and n.value in names for n in operands):
            found.append(f"{path}:{node.lineno}")
    return found


def test_the_check_sees_comparisons(tmp_path):
    old = tmp_path / "old.py"
    old.write_text('a = x == "tensorrt"\nb = y in ("onnxruntime", "z")\nc = {"tensorrt": 1}\nd = x == "cpu"\n')
    assert [h.rsplit(":", 1)[1] for h in _runtime_comparisons(old)] == ["1", "2", "3"]


def test_no_module_outside_the_backends_compares_a_runtime_name():
    root = Path(hwnas.__file__).parent
    outside = [p for p in root.rglob("*.py") if "backends" not in p.relative_to(root).parts]
    assert [hit for p in outside for hit in _runtime_comparisons(p)] == []
