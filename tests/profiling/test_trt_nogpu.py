"""The TensorRT backend without a GPU: cache keying, cache write failures, error paths, cleanup, device
settings, records. TensorRT and the CUDA runtime are replaced by fakes that only build, allocate and
report success or failure; they never produce a time (nothing here measures TensorRT)."""

import ast
import math
import sqlite3
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.devices import Device, get
from hwnas.profiling.backends import cuda
from hwnas.profiling.backends import trt as trtb
from hwnas.profiling.backends.ort import OrtRunner
from hwnas.profiling.protocol import measure_batch
from hwnas.profiling.record import LatencyRecord
from hwnas.profiling.store import LatencyStore

KEY = trtb.CacheKey("NVIDIA A100-SXM4-40GB", "8.0", "CUDA 12.4, driver 550.54.14", "10.13.0.35")


# ---------------------------------------------------------------- fakes (build and allocation only)


class FakeTrt(types.ModuleType):
    """Just enough of the tensorrt module for build_engine and TrtRunner; ``fail`` names a step to fail."""

    def __init__(self, inputs=(("image", (1, 1, 8, 8)),), outputs=(("logits", (1, 3)),), fail=()):
        super().__init__("tensorrt")
        self.__version__ = "10.13.0.35"
        self.fail, self.calls = set(fail), []
        self.in_specs, self.out_specs = list(inputs), list(outputs)
        fake = self

        class Enum:
            def __init__(self, **kw):
                self.__dict__.update(kw)

        self.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda s, level: fake.calls.append(("logger",))})
        self.NetworkDefinitionCreationFlag = Enum(STRONGLY_TYPED=0)
        self.MemoryPoolType = Enum(WORKSPACE=0)
        self.BuilderFlag = Enum(TF32="TF32")
        self.TensorIOMode = Enum(INPUT="in", OUTPUT="out")
        self.Dims = lambda shape: tuple(shape)
        self.nptype = lambda dt: np.float32

        class Tensor:
            def __init__(self, name, shape):
                self.name, self.shape = name, shape

        class Network:
            num_inputs = len(self.in_specs)

            def get_input(self, i):
                return Tensor(*fake.in_specs[i])

        class Parser:
            num_errors = 1

            def __init__(self, network, log):
                pass

            def parse(self, data, path=None):
                return "parse" not in fake.fail

            def get_error(self, i):
                return "In node 3 (Gather):\n  unsupported   axis"

        class TimingCache:
            def __init__(self, blob):
                self.blob = bytes(blob)

            def serialize(self):
                if "serialize" in fake.fail:
                    raise RuntimeError("no memory")
                return b"timings"

        class Profile:
            def set_shape(self, name, lo, opt, hi):
                fake.calls.append(("set_shape", name, lo, opt, hi))

        class Config:
            cache = None

            def set_memory_pool_limit(self, pool, size):
                pass

            def set_flag(self, flag):
                fake.calls.append(("set_flag", flag))

            def clear_flag(self, flag):
                fake.calls.append(("clear_flag", flag))

            def add_optimization_profile(self, profile):
                return -1 if "profile" in fake.fail else 0

            def create_timing_cache(self, blob):
                fake.calls.append(("create_timing_cache", bytes(blob)))
                return TimingCache(blob)

            def set_timing_cache(self, cache, ignore_mismatch):
                fake.calls.append(("set_timing_cache", cache.blob, ignore_mismatch))
                self.cache = cache
                return not (cache.blob and "reject_cache" in fake.fail)

            def get_timing_cache(self):
                return self.cache

        class Builder:
            def __init__(self, log):
                pass

            def create_network(self, flags):
                return Network()

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                return None if "build" in fake.fail else b"ENGINE"

        class Context:
            def __init__(self):
                self.shapes = {n: s for n, s in fake.in_specs + fake.out_specs}

            def set_input_shape(self, name, shape):  # outputs follow the input's batch
                self.shapes[name] = tuple(shape)
                for out, spec in fake.out_specs:
                    self.shapes[out] = tuple(shape[0] if d < 0 else d for d in spec)
                return "set_input_shape" not in fake.fail

            def get_tensor_shape(self, name):
                return self.shapes[name]

            def set_tensor_address(self, name, ptr):
                return f"set_tensor_address:{name}" not in fake.fail

            def execute_async_v3(self, handle):
                return "execute" not in fake.fail

        class Engine:
            names = [n for n, _ in fake.in_specs + fake.out_specs]
            num_io_tensors = len(names)

            def get_tensor_name(self, i):
                return self.names[i]

            def get_tensor_mode(self, name):
                return "in" if name in dict(fake.in_specs) else "out"

            def get_tensor_shape(self, name):
                return dict(fake.in_specs + fake.out_specs)[name]

            def get_tensor_dtype(self, name):
                return "float"

            def create_execution_context(self):
                return Context()

        class Runtime:
            def __init__(self, log):
                pass

            def deserialize_cuda_engine(self, blob):
                return None if "deserialize" in fake.fail else Engine()

        self.Builder, self.OnnxParser, self.Runtime = Builder, Parser, Runtime


class FakeCudart:
    """Allocation and stream calls of cuda-python's runtime that succeed and count what is live.
    It has no timing calls: a test that reached one would fail."""

    def __init__(self):
        from cuda.bindings import runtime as rt

        self.rt, self.ok = rt, rt.cudaError_t.cudaSuccess
        self.cudaError_t, self.cudaMemcpyKind = rt.cudaError_t, rt.cudaMemcpyKind
        self.cudaStreamNonBlocking = rt.cudaStreamNonBlocking
        self.live, self.next = set(), 1000

    def _new(self, kind):
        self.next += 1
        self.live.add((kind, self.next))
        return self.next

    def cudaStreamCreateWithFlags(self, flags):
        self._new("stream")
        return self.ok, self.rt.cudaStream_t(self.next)

    def cudaStreamDestroy(self, s):
        self.live.discard(("stream", int(cuda.handle(s))))
        return (self.ok,)

    def cudaStreamSynchronize(self, s):
        return (self.ok,)

    def cudaMalloc(self, n):
        return self.ok, self._new("buffer")

    def cudaFree(self, p):
        self.live.discard(("buffer", p))
        return (self.ok,)

    def cudaMemcpy(self, dst, src, n, kind):
        return (self.ok,)

    def cudaEventDestroy(self, e):
        return (self.ok,)


@pytest.fixture
def fake_gpu(monkeypatch):
    """Install a FakeTrt (returned; tests set its inputs and failures) and a FakeCudart."""
    fake = FakeTrt()
    cudart = FakeCudart()
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setattr(trtb, "tensorrt_installed", lambda: True)
    monkeypatch.setattr(cuda, "cudart", lambda: cudart)
    fake.cudart = cudart
    trtb.logger.cache_clear()  # a logger of this fake TensorRT, and none of it left for the next test
    yield fake
    trtb.logger.cache_clear()


def _dev(**kw):
    return get("gpu-trt").with_(**kw)


def _onnx(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"not parsed by the fake")
    return p


# ---------------------------------------------------------------- timing cache


@pytest.mark.parametrize("field", ["gpu", "compute_capability", "driver", "tensorrt"])
def test_cache_key_changes_with_each_component(field, tmp_path):
    other = trtb.CacheKey(**{**KEY.__dict__, field: KEY.__dict__[field] + "x"})
    assert other.header() != KEY.header()
    assert trtb.TimingCache(other, tmp_path).path != trtb.TimingCache(KEY, tmp_path).path


def test_cache_round_trip_and_foreign_cache_not_loaded(tmp_path):
    mine = trtb.TimingCache(KEY, tmp_path)
    assert mine.load() == b""  # none yet
    assert mine.save(b"\x00timings")
    assert mine.load() == b"\x00timings"
    other = trtb.TimingCache(trtb.CacheKey(KEY.gpu, "9.0", KEY.driver, KEY.tensorrt), tmp_path)
    other.path.write_bytes(mine.path.read_bytes())  # a cache copied from another GPU under its name
    with pytest.warns(trtb.TimingCacheWarning, match="another GPU"):
        assert other.load() == b""
    other.path.write_bytes(b"raw TensorRT cache without a key")
    with pytest.warns(trtb.TimingCacheWarning):
        assert other.load() == b""


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(trtb.CACHE_ENV, str(tmp_path / "c"))
    assert trtb.TimingCache(KEY).path.parent == tmp_path / "c"


def test_build_loads_only_a_matching_cache_and_never_ignores_mismatch(fake_gpu, tmp_path):
    cache = trtb.TimingCache(KEY, tmp_path)
    assert trtb.build_engine(_onnx(tmp_path), _dev(), cache) == b"ENGINE"
    assert ("create_timing_cache", b"") in fake_gpu.calls
    assert cache.load() == b"timings"  # written back, with its key
    fake_gpu.calls.clear()
    trtb.build_engine(_onnx(tmp_path), _dev(), cache)
    assert ("set_timing_cache", b"timings", False) in fake_gpu.calls
    foreign = trtb.TimingCache(trtb.CacheKey("other GPU", "8.6", KEY.driver, KEY.tensorrt), tmp_path)
    foreign.path.write_bytes(cache.path.read_bytes())
    fake_gpu.calls.clear()
    with pytest.warns(trtb.TimingCacheWarning):
        trtb.build_engine(_onnx(tmp_path), _dev(), foreign)
    assert ("create_timing_cache", b"") in fake_gpu.calls
    assert all(c[2] is False for c in fake_gpu.calls if c[0] == "set_timing_cache")


def test_cache_rejected_by_tensorrt_is_replaced_by_an_empty_one(fake_gpu, tmp_path):
    cache = trtb.TimingCache(KEY, tmp_path)
    cache.save(b"stale")
    fake_gpu.fail.add("reject_cache")
    with pytest.warns(trtb.TimingCacheWarning, match="rejected"):
        assert trtb.build_engine(_onnx(tmp_path), _dev(), cache) == b"ENGINE"
    assert [c[1] for c in fake_gpu.calls if c[0] == "set_timing_cache"] == [b"stale", b""]


def test_failed_cache_write_keeps_the_engine(fake_gpu, tmp_path, monkeypatch):
    cache = trtb.TimingCache(KEY, tmp_path)
    cache.save(b"old")

    def disk_full(path, write):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(trtb, "atomic_write", disk_full)
    with pytest.warns(trtb.TimingCacheWarning, match="engine is kept"):
        assert trtb.build_engine(_onnx(tmp_path), _dev(), cache) == b"ENGINE"
    assert cache.load() == b"old"  # the old cache is untouched
    monkeypatch.undo()


def test_failed_cache_serialize_keeps_the_engine(fake_gpu, tmp_path):
    fake_gpu.fail.add("serialize")
    with pytest.warns(trtb.TimingCacheWarning, match="engine is kept"):
        assert trtb.build_engine(_onnx(tmp_path), _dev(), trtb.TimingCache(KEY, tmp_path)) == b"ENGINE"


def test_atomic_write_leaves_no_torn_file(tmp_path, monkeypatch):
    cache = trtb.TimingCache(KEY, tmp_path)
    cache.save(b"good")
    import os

    def crash(src, dst):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.warns(trtb.TimingCacheWarning):
        assert not cache.save(b"new")
    monkeypatch.undo()
    assert cache.load() == b"good" and sorted(p.name for p in tmp_path.iterdir()) == [cache.path.name]


# ---------------------------------------------------------------- build: profile, precision, errors


def test_static_model_gets_no_profile_and_fp32_clears_tf32(fake_gpu, tmp_path):
    trtb.build_engine(_onnx(tmp_path), _dev())
    assert not [c for c in fake_gpu.calls if c[0] == "set_shape"]
    assert ("clear_flag", "TF32") in fake_gpu.calls and ("set_flag", "TF32") not in fake_gpu.calls


def test_tf32_device_sets_the_flag(fake_gpu, tmp_path):
    trtb.build_engine(_onnx(tmp_path), get("gpu-trt-tf32"))
    assert ("set_flag", "TF32") in fake_gpu.calls


@pytest.mark.parametrize(
    "kw, want", [({"batch_size": 4}, (4, 4, 4)), ({"batch_size": 4, "min_batch": 1, "max_batch": 8}, (1, 4, 8))]
)
def test_dynamic_batch_gets_a_profile_from_the_device(fake_gpu, tmp_path, kw, want):
    fake_gpu.in_specs = [("image", (-1, 1, 8, 8))]
    trtb.build_engine(_onnx(tmp_path), _dev(**kw))
    (call,) = [c for c in fake_gpu.calls if c[0] == "set_shape"]
    assert call[1] == "image" and tuple(s[0] for s in call[2:]) == want and call[2][1:] == (1, 8, 8)


def test_dynamic_non_batch_dimension_is_refused(fake_gpu, tmp_path):
    fake_gpu.in_specs = [("image", (1, 1, -1, 8))]
    with pytest.raises(trtb.TensorRTError, match="'image'.*only the batch dimension"):
        trtb.build_engine(_onnx(tmp_path), _dev())


@pytest.mark.parametrize(
    "step, match",
    [
        ("parse", r"parsing m.onnx failed: In node 3 \(Gather\): unsupported axis"),
        ("build", "build_serialized_network"),
        ("profile", "optimization profile for 'image'"),
    ],
)
def test_build_failures_are_one_line_errors_naming_the_step(fake_gpu, tmp_path, step, match):
    fake_gpu.in_specs = [("image", (-1, 1, 8, 8))]
    fake_gpu.fail.add(step)
    with pytest.raises(trtb.TensorRTError, match=match) as e:
        trtb.build_engine(_onnx(tmp_path), _dev())
    assert "\n" not in str(e.value)


def test_one_logger_for_every_builder_and_runtime(fake_gpu, tmp_path):
    trtb.build_engine(_onnx(tmp_path), _dev())
    trtb.build_engine(_onnx(tmp_path), _dev())
    assert trtb.logger() is trtb.logger()
    assert fake_gpu.calls.count(("logger",)) == 1


# ---------------------------------------------------------------- runner: checked results, cleanup


def _runner(fake, tmp_path, **kw):
    return trtb.TrtRunner(_onnx(tmp_path), _dev(gpu_timing="enqueue", **kw), cache=trtb.TimingCache(KEY, tmp_path))


def test_runner_binds_every_tensor_and_releases_everything(fake_gpu, tmp_path):
    r = _runner(fake_gpu, tmp_path)
    assert set(r.inputs) == {"image"} and set(r.outputs) == {"logits"}
    assert {k for k, _ in fake_gpu.cudart.live} == {"stream", "buffer"}
    r.close()
    r.close()  # twice is harmless
    assert fake_gpu.cudart.live == set()


@pytest.mark.parametrize(
    "step, match",
    [
        ("set_tensor_address:logits", r"set_tensor_address\('logits'\)"),
        ("set_input_shape", r"set_input_shape\('image', \(8, 1, 8, 8\)\)"),
        ("deserialize", "deserialize_cuda_engine"),
        ("execute", r"execute_async_v3 \(first run\)"),
    ],
)
def test_constructor_failing_part_way_releases_what_it_made(fake_gpu, tmp_path, step, match):
    fake_gpu.in_specs = [("image", (-1, 1, 8, 8))]
    fake_gpu.out_specs = [("logits", (-1, 3))]
    fake_gpu.fail.add(step)
    with pytest.raises(trtb.TensorRTError, match=match) as e:
        _runner(fake_gpu, tmp_path, batch_size=8)
    assert "\n" not in str(e.value)
    assert fake_gpu.cudart.live == set()


def test_failed_enqueue_while_timing_names_the_step(fake_gpu, tmp_path, monkeypatch):
    r = _runner(fake_gpu, tmp_path)
    fake_gpu.fail.add("execute")
    monkeypatch.setattr(fake_gpu.cudart, "cudaEventCreate", lambda: (fake_gpu.cudart.ok, object()), raising=False)
    monkeypatch.setattr(fake_gpu.cudart, "cudaEventRecord", lambda e, s: (fake_gpu.cudart.ok,), raising=False)
    with pytest.raises(trtb.TensorRTError, match="execute_async_v3 failed"):
        r.time_runs(3)
    r.close()
    assert fake_gpu.cudart.live == set()


# ---------------------------------------------------------------- installation checks, cuda-python API


def test_stubs_alone_are_not_tensorrt(tmp_path, monkeypatch):
    """tensorrt-stubs installs tensorrt/__init__.pyi only: that imports as an empty namespace package."""
    (tmp_path / "tensorrt").mkdir()
    (tmp_path / "tensorrt" / "__init__.pyi").write_text("__version__: str\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    import importlib

    importlib.invalidate_caches()
    if importlib.util.find_spec("tensorrt").origin is not None:
        pytest.skip("a real tensorrt is installed ahead of the stub folder")
    assert not trtb.tensorrt_installed()
    ok, why = get("gpu-trt").available()
    assert not ok and "tensorrt Python package" in why
    assert trtb.TrtBackend().version() == ""


def _cudart_names(path):
    tree = ast.parse(Path(path).read_text())

    def is_cudart(v):  # cudart.X, rt.X, self._cudart.X
        return (isinstance(v, ast.Name) and v.id in ("cudart", "rt")) or (
            isinstance(v, ast.Attribute) and v.attr == "_cudart"
        )

    return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and is_cudart(n.value)}


def test_every_cuda_runtime_call_exists_in_cuda_python():
    """cuda-python imports without a GPU: each runtime name the backends use must exist in it."""
    rt = pytest.importorskip("cuda.bindings.runtime")
    names = _cudart_names(trtb.__file__) | _cudart_names(cuda.__file__)
    assert {"cudaGraphLaunch", "cudaEventElapsedTime", "cudaStreamCreateWithFlags"} <= names
    assert sorted(n for n in names if not hasattr(rt, n)) == []
    assert hasattr(rt.cudaStreamCaptureMode, "cudaStreamCaptureModeThreadLocal")
    assert cuda.handle(rt.cudaStream_t(1234)) == 1234


# ---------------------------------------------------------------- devices


def test_gpu_devices_name_their_figure_and_precision():
    assert (get("gpu-trt").latency, get("gpu-trt").gpu_timing, get("gpu-trt").precision) == ("compute", "graph", "fp32")
    assert get("gpu-trt-tf32").precision == "tf32" and get("gpu-trt-fp16").precision == "fp16"
    assert get("cpu").latency == "" and get("cpu").batch_range == (1, 1)
    d = Device("g", "tensorrt", batch_size=4)  # the runtime's defaults fill what is left out
    assert (d.latency, d.gpu_timing, d.batch_range) == ("compute", "graph", (4, 4))


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"runtime": "onnxruntime", "latency": "e2e"}, "apply to GPU runtimes"),
        ({"runtime": "onnxruntime", "precision": "tf32"}, "apply to GPU runtimes"),
        ({"runtime": "tensorrt", "latency": "wall"}, "latency must be one of"),
        ({"runtime": "tensorrt", "gpu_timing": "events"}, "gpu_timing must be one of"),
        ({"runtime": "tensorrt", "batch_size": 4, "min_batch": 8}, "min_batch <= batch_size"),
        ({"runtime": "tensorrt", "batch_size": 4, "max_batch": 2}, "min_batch <= batch_size"),
    ],
)
def test_gpu_settings_are_validated(kw, match):
    with pytest.raises(ConfigError, match=match):
        Device("x", **kw)


def test_user_device_file_sets_the_gpu_settings(tmp_path, no_user_devices):
    from hwnas.devices import files

    p = tmp_path / "d.toml"
    p.write_text('[devices.trt-b8]\nbase = "gpu-trt"\nbatch_size = 8\nmax_batch = 16\nlatency = "e2e"\n')
    (d,) = files.load(p, lambda n: get(n) if n == "gpu-trt" else None)
    assert (d.batch_range, d.latency, d.gpu_timing) == ((8, 16), "e2e", "graph")
    assert trtb.TrtBackend().clock(d) == "wall" and "latency_ms=e2e_ms" in trtb.TrtBackend().timing(d)


# ---------------------------------------------------------------- records and the store

CFG = SubnetConfig(16, 1, (1.0,), (1,))


def test_record_says_what_latency_ms_is():
    rec = LatencyRecord.for_config(CFG, get("gpu-trt"), "s", "d")
    assert rec.timing.startswith(
        "latency_ms=compute_ms; compute_ms: CUDA events between back-to-back CUDA-graph launches; e2e_ms: perf_counter"
    )
    assert rec.clock == "cuda-event" and math.isnan(rec.compute_ms) and math.isnan(rec.e2e_ms)
    assert LatencyRecord.for_config(CFG, get("cpu"), "s", "d").timing == "latency_ms: thread clock around each run"
    rec.take_figures({"compute_ms": 1.5, "e2e_ms": 2.5, "other": 9.0})
    assert (rec.compute_ms, rec.e2e_ms) == (1.5, 2.5)


def test_old_store_gains_the_new_columns(tmp_path):
    """A store written before compute_ms / e2e_ms / timing existed opens, reads and takes new records."""
    db = tmp_path / "old.db"
    old_cols = [c for c in LatencyRecord.__dataclass_fields__ if c not in ("compute_ms", "e2e_ms", "timing")]
    con = sqlite3.connect(db)
    con.execute(f"CREATE TABLE records ({', '.join(old_cols)}, PRIMARY KEY (key, device, space_digest))")
    old = LatencyRecord.for_config(CFG, get("cpu"), "s", "d", latency_ms=1.0).to_row()
    con.execute(
        f"INSERT INTO records ({', '.join(old_cols)}) VALUES ({', '.join('?' * len(old_cols))})",
        [old[c] for c in old_cols],
    )
    con.commit()
    con.close()
    with LatencyStore(db) as store:
        (rec,) = store.records()
        assert rec.latency_ms == 1.0 and math.isnan(rec.e2e_ms) and rec.timing == ""
        new = LatencyRecord.for_config(CFG, get("gpu-trt"), "s", "d", latency_ms=0.5).take_figures(
            {"compute_ms": 0.5, "e2e_ms": 0.9}
        )
        assert store.add(new)
        got = [r for r in store.records(device="gpu-trt")][0]
        assert (got.compute_ms, got.e2e_ms, got.timing) == (0.5, 0.9, new.timing)
        df = store.to_dataframe()
        assert df["e2e_ms"].dtype == float and df["e2e_ms"].isna().sum() == 1


# ---------------------------------------------------------------- protocol: extra figures of real runs


def _matmul(path, width=64):
    w = helper.make_tensor(
        "w",
        TensorProto.FLOAT,
        [width, width],
        np.random.default_rng(0).standard_normal(width * width).astype(np.float32).tolist(),
    )
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])],
        [w],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


class TwoFigures(OrtRunner):
    """A real ONNX Runtime session whose measured run times are also reported as extra figures."""

    def time_runs(self, k):
        runs = super().time_runs(k)
        self.last_figures = {"e2e_ms": runs, "compute_ms": [2 * t for t in runs]}
        return runs


def test_protocol_keeps_every_figure_of_the_kept_attempt(tmp_path):
    dev = get("cpu").with_(rounds=3, warmup_runs=3, block_ms=1.0)
    r = TwoFigures(_matmul(tmp_path / "m.onnx"), dev)
    m = measure_batch({"a": r}, dev, np.random.default_rng(0))["a"]
    assert m.figures["e2e_ms"] == pytest.approx(m.latency_ms)
    assert m.figures["compute_ms"] == pytest.approx(2 * m.latency_ms)
    plain = OrtRunner(_matmul(tmp_path / "p.onnx"), dev)
    assert measure_batch({"p": plain}, dev, np.random.default_rng(0))["p"].figures == {}
