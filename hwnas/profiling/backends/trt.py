"""TensorRT backend (TensorRT 10 and 11, Python API), device memory and timing through cuda-python.

**Build.** The ONNX file is parsed into a strongly typed network (the STRONGLY_TYPED flag is required for
that on 10.x and accepted but ignored on 11.x, where every network is strongly typed), so precision comes
from the model: ``fp16`` means an FP16 ONNX model (``export_onnx(..., fp16=True)``); there is no FP16
builder flag (removed in 11). ``fp32`` is true FP32: the TF32 builder flag, on by default, is cleared;
``tf32`` sets it. Inputs whose batch dimension is dynamic get one optimization profile from the device
(min = opt = max = ``batch_size`` unless the device sets ``min_batch``/``max_batch``); any other
dynamic dimension is an error. One logger serves every builder, parser and runtime.

**Timing cache.** One file per (GPU name, compute capability, driver, TensorRT version) under
``$HWNAS_TRT_CACHE_DIR`` (default ``trt`` in the user's cache folder: ``$XDG_CACHE_HOME/hwnas``,
``~/.cache/hwnas`` when unset, on Linux). The key is also written inside the file and a cache is loaded
only when it matches; TensorRT is asked to refuse a mismatch too (``ignore_mismatch=False``: ``True``
would *load* a foreign cache). A rejected cache is
replaced by an empty one. The updated cache is written atomically after the build; a failed write is a
warning and never costs the engine.

**Timing.** Every block of ``k`` runs takes two figures per run, both kept in the record:

* ``compute_ms``, GPU compute time: one lead run keeps the stream busy, then ``k`` launches back to back
  with a CUDA event recorded after each; run i is the time between events i-1 and i on the GPU. A
  launch is a captured CUDA graph of ``execute_async_v3`` (``gpu_timing="graph"``: one cheap launch
  per run, so the host stays ahead of the GPU) or ``execute_async_v3`` itself (``"enqueue"``). If the
  host cannot enqueue as fast as the GPU computes, the interval includes the GPU waiting for it.
* ``e2e_ms``, end-to-end latency of one request: host ``perf_counter`` around one launch and
  ``cudaStreamSynchronize`` on an idle stream (input and output stay on the GPU: no copies).

The device's ``latency`` ("compute" or "e2e") says which is ``latency_ms``. Every boolean or None result
of TensorRT is checked and raises a one-line :class:`TensorRTError` naming the step (and tensor); every
CUDA resource is released on every path, a constructor failing part-way included.

**TensorRT 11 changes this module relies on** (10.x behaviour in brackets; 10.x API is what CI type-checks
against, through the ``tensorrt-stubs`` of 10.13):

=================================================  ===============================================
TensorRT 11                                        what this module does
=================================================  ===============================================
every network strongly typed; STRONGLY_TYPED flag  sets the flag (needed on 10.x, ignored on 11.x)
accepted but ignored
BuilderFlag.FP16/BF16/INT8/FP8 and OBEY/PREFER_    never uses them; FP16 = an FP16 ONNX model
PRECISION_CONSTRAINTS removed
BuilderFlag.TF32 kept, still on by default         clears it for ``fp32``, sets it for ``tf32``
enum *values* of BuilderFlag renumbered            uses names only, never integers
IAlgorithmSelector removed (use the timing cache)  uses only ITimingCache
ICudaEngine.device_memory_size removed             not used (TensorRT allocates activations)
execute_async_v3 / set_tensor_address /            unchanged in 11; results still checked
set_input_shape / add_optimization_profile
=================================================  ===============================================

``tensorrt`` and ``cuda-python`` are optional extras (``pip install hwnas[trt]``; TensorRT's wheels come
from NVIDIA's package index), imported inside the functions that use them.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import math
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hwnas.core.atomic import atomic_write
from hwnas.core.errors import ConfigError, HwnasError, MissingDependencyError
from hwnas.profiling.backends import cuda
from hwnas.profiling.backends.base import Backend, Runner

if TYPE_CHECKING:
    import tensorrt

    from hwnas.devices.device import Device

WORKSPACE_BYTES = 1 << 30
CACHE_ENV = "HWNAS_TRT_CACHE_DIR"
CACHE_MAGIC = b"hwnas-trt-timing-cache 1\n"
INSTALL_HINT = "the tensorrt Python package (pip install tensorrt, from NVIDIA's package index)"


class TensorRTError(HwnasError, RuntimeError):
    """A TensorRT step failed; the message is one line naming the step (and tensor)."""


class TimingCacheWarning(UserWarning):
    """The timing cache could not be read or written; the build goes on without it."""


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _ok(result: object, step: str) -> None:
    """Raise TensorRTError naming ``step`` if a TensorRT call returned False or None."""
    if result is None or result is False:
        raise TensorRTError(f"TensorRT: {step} failed")


def tensorrt_installed() -> bool:
    """Whether the real tensorrt package is importable (type stubs alone make a namespace package)."""
    spec = importlib.util.find_spec("tensorrt")
    return spec is not None and spec.origin is not None


def _require_tensorrt() -> None:
    if not tensorrt_installed():
        raise MissingDependencyError(f"the gpu-trt device needs {INSTALL_HINT}")


@functools.cache
def logger() -> tensorrt.ILogger:
    """The one TensorRT logger of this process (TensorRT warns when a second one is created)."""
    import tensorrt as trt

    return trt.Logger(trt.Logger.WARNING)


# ---------------------------------------------------------------- timing cache


@dataclass(frozen=True)
class CacheKey:
    """What a TensorRT timing cache is valid for."""

    gpu: str
    compute_capability: str
    driver: str
    tensorrt: str

    @classmethod
    def here(cls, trt_version: str, index: int = 0) -> CacheKey:
        ident = cuda.gpu_identity(index)
        return cls(ident["gpu"], ident["compute_capability"], ident["driver"], trt_version)

    def header(self) -> bytes:
        return CACHE_MAGIC + json.dumps(asdict(self), sort_keys=True).encode() + b"\n"

    def file_name(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", self.gpu).strip("-").lower() or "gpu"
        digest = hashlib.sha256(self.header()).hexdigest()[:12]
        return f"timing-{slug}-sm{self.compute_capability.replace('.', '')}-trt{self.tensorrt}-{digest}.cache"


def cache_dir() -> Path:
    """``$HWNAS_TRT_CACHE_DIR``, else ``trt`` in the user's cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("hwnas")) / "trt"


class TimingCache:
    """The timing cache file of one :class:`CacheKey`: ``load()`` its blob, ``save(blob)`` atomically."""

    def __init__(self, key: CacheKey, folder: str | Path | None = None) -> None:
        self.key = key
        self.path = Path(folder if folder is not None else cache_dir()) / key.file_name()

    def load(self) -> bytes:
        """The stored blob if the file exists and was written for this key, else b"" (never foreign)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return b""
        except OSError as e:
            warnings.warn(f"TensorRT timing cache {self.path} not read: {e.strerror}", TimingCacheWarning, stacklevel=2)
            return b""
        header = self.key.header()
        if not data.startswith(header):
            warnings.warn(
                f"TensorRT timing cache {self.path} was written for another GPU, driver or "
                "TensorRT version; not loaded",
                TimingCacheWarning,
                stacklevel=2,
            )
            return b""
        return data[len(header) :]

    def save(self, blob: bytes) -> bool:
        """Write header + blob atomically; False (with a warning) if it cannot be written."""
        header = self.key.header()
        try:
            atomic_write(self.path, lambda f: (f.write(header), f.write(blob)))
        except OSError as e:
            warnings.warn(
                f"TensorRT timing cache {self.path} not written ({_one_line(e)}); the engine is kept",
                TimingCacheWarning,
                stacklevel=2,
            )
            return False
        return True


# ---------------------------------------------------------------- build


def _dims(dims: tensorrt.Dims) -> tuple[int, ...]:
    return tuple(int(dims[i]) for i in range(len(dims)))


def _profile_shapes(
    name: str, shape: tuple[int, ...], device: Device
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) of input ``name`` whose dims may be dynamic (-1) in the batch dimension only."""
    if any(d < 0 for d in shape[1:]):
        raise TensorRTError(f"TensorRT: input {name!r} has shape {shape}: only the batch dimension (0) may be dynamic")
    lo, hi = device.batch_range
    return (lo, *shape[1:]), (device.batch_size, *shape[1:]), (hi, *shape[1:])


def build_engine(onnx_path: str | Path, device: Device, cache: TimingCache | None = None) -> bytes:
    """Serialized engine of ``onnx_path`` for ``device``; ``cache`` is read first and written back."""
    _require_tensorrt()
    import tensorrt as trt

    log = logger()
    builder = trt.Builder(log)
    _ok(builder, "creating the builder")
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    _ok(network, "creating the network")
    parser = trt.OnnxParser(network, log)
    if not parser.parse(Path(onnx_path).read_bytes(), str(onnx_path)):
        errors = "; ".join(_one_line(parser.get_error(i)) for i in range(parser.num_errors))
        raise TensorRTError(f"TensorRT: parsing {Path(onnx_path).name} failed: {errors or 'no reason given'}")
    config = builder.create_builder_config()
    _ok(config, "creating the builder config")
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if device.precision == "tf32":
        config.set_flag(trt.BuilderFlag.TF32)
    else:  # fp32 is FP32; an fp16 model's remaining FP32 layers too
        config.clear_flag(trt.BuilderFlag.TF32)

    dynamic = []
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = _dims(tensor.shape)
        if any(d < 0 for d in shape):
            dynamic.append((tensor.name, _profile_shapes(tensor.name, shape, device)))
    if dynamic:
        profile = builder.create_optimization_profile()
        _ok(profile, "creating an optimization profile")
        for name, (lo, opt, hi) in dynamic:
            profile.set_shape(name, trt.Dims(list(lo)), trt.Dims(list(opt)), trt.Dims(list(hi)))
        if config.add_optimization_profile(profile) < 0:
            names = ", ".join(repr(n) for n, _ in dynamic)
            raise TensorRTError(f"TensorRT: adding the optimization profile for {names} failed")

    blob = cache.load() if cache is not None else b""
    if cache is not None:
        timing = config.create_timing_cache(blob)
        _ok(timing, "creating the timing cache")
        if not config.set_timing_cache(timing, ignore_mismatch=False):
            if not blob:
                raise TensorRTError("TensorRT: set_timing_cache (an empty cache) failed")
            warnings.warn(
                f"TensorRT rejected the timing cache {cache.path}; building without it",
                TimingCacheWarning,
                stacklevel=2,
            )
            timing = config.create_timing_cache(b"")
            _ok(timing, "creating an empty timing cache")
            _ok(config.set_timing_cache(timing, ignore_mismatch=False), "set_timing_cache (an empty cache)")

    engine = builder.build_serialized_network(network, config)
    _ok(engine, "build_serialized_network (see TensorRT's log above)")
    out = bytes(memoryview(engine))
    if cache is not None:
        try:
            cache.save(bytes(memoryview(config.get_timing_cache().serialize())))
        except Exception as e:  # the engine is worth more than the cache
            warnings.warn(
                f"TensorRT timing cache not saved ({type(e).__name__}: {_one_line(e)}); the engine is kept",
                TimingCacheWarning,
                stacklevel=2,
            )
    return out


# ---------------------------------------------------------------- run


class TrtRunner(Runner):
    """An engine and its execution context with device buffers, a stream, CUDA events and (for
    ``gpu_timing="graph"``) a captured CUDA graph. ``time_runs`` returns the device's ``latency`` figure;
    ``last_figures`` holds both figures of the last block."""

    FIGURES: ClassVar[tuple[str, str]] = ("compute_ms", "e2e_ms")

    def __init__(self, onnx_path: str | Path, device: Device, seed: int = 0, cache: TimingCache | None = None) -> None:
        self._cudart = cuda.cudart()
        self.stream: Any = None
        self._events: list[Any] = []
        self._buffers: list[Any] = []
        self._graph: Any = None
        self._graph_exec: Any = None
        self.context: tensorrt.IExecutionContext | None = None
        self.engine: tensorrt.ICudaEngine | None = None
        self._runtime: tensorrt.Runtime | None = None
        self.latency = device.latency or "compute"
        self.last_figures: dict[str, list[float]] = {}
        try:
            self._open(onnx_path, device, seed, cache)
        except BaseException:
            self.close()
            raise

    def _open(self, onnx_path: str | Path, device: Device, seed: int, cache: TimingCache | None) -> None:
        _require_tensorrt()
        import tensorrt as trt

        cudart = self._cudart
        t0 = time.perf_counter()
        if cache is None:
            cache = TimingCache(CacheKey.here(trt.__version__))
        blob = build_engine(onnx_path, device, cache)
        self.build_s = time.perf_counter() - t0
        self._runtime = runtime = trt.Runtime(logger())
        _ok(runtime, "creating the runtime")
        self.engine = engine = runtime.deserialize_cuda_engine(blob)
        _ok(engine, "deserialize_cuda_engine")
        self.context = context = engine.create_execution_context()
        _ok(context, "create_execution_context")
        self.stream = cuda.check(cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking))
        self._stream_handle = cuda.handle(self.stream)

        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.inputs: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
        self.outputs: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
        self._ptr: dict[str, Any] = {}
        for name in inputs:  # input shapes first: output shapes follow from them
            shape = _dims(engine.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                shape = tuple(device.batch_size if d < 0 else d for d in shape)
                _ok(context.set_input_shape(name, shape), f"set_input_shape({name!r}, {shape})")
        rng = np.random.default_rng(seed)
        for name in names:
            shape = _dims(context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise TensorRTError(f"TensorRT: tensor {name!r} has unresolved shape {shape}")
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            nbytes = max(1, math.prod(shape) * dtype.itemsize)
            ptr = cuda.check(cudart.cudaMalloc(nbytes))
            self._buffers.append(ptr)
            self._ptr[name] = ptr
            if name in inputs:
                self.inputs[name] = (shape, dtype)
                self._copy_in(name, rng.standard_normal(shape).astype(dtype))
            else:
                self.outputs[name] = (shape, dtype)
            _ok(context.set_tensor_address(name, int(ptr)), f"set_tensor_address({name!r})")
        self._ok_enqueue("execute_async_v3 (first run)")
        cuda.check(cudart.cudaStreamSynchronize(self.stream))
        if device.gpu_timing == "graph":
            self._capture()
        self.setup_s = time.perf_counter() - t0
        self.runtime_version = str(trt.__version__)

    def _context(self) -> tensorrt.IExecutionContext:
        if self.context is None:
            raise TensorRTError("TensorRT: the runner is closed")
        return self.context

    def _ok_enqueue(self, step: str) -> None:
        _ok(self._context().execute_async_v3(self._stream_handle), step)

    def _capture(self) -> None:
        """Capture one ``execute_async_v3`` into a CUDA graph (TensorRT ran once before, as it asks)."""
        cudart = self._cudart
        cuda.check(
            cudart.cudaStreamBeginCapture(self.stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal)
        )
        try:
            ok = self._context().execute_async_v3(self._stream_handle)
        finally:
            self._graph = cuda.check(cudart.cudaStreamEndCapture(self.stream))
        _ok(ok, "execute_async_v3 during CUDA-graph capture (set gpu_timing = 'enqueue' for this model)")
        self._graph_exec = cuda.check(cudart.cudaGraphInstantiate(self._graph, 0))

    def _copy_in(self, name: str, host: np.ndarray) -> None:
        host = np.ascontiguousarray(host)
        cuda.check(
            self._cudart.cudaMemcpy(
                self._ptr[name], host.ctypes.data, host.nbytes, self._cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            )
        )

    def _launch(self) -> None:
        if self._graph_exec is not None:
            cuda.check(self._cudart.cudaGraphLaunch(self._graph_exec, self.stream))
        else:
            self._ok_enqueue("execute_async_v3")

    def _event_pool(self, n: int) -> list[Any]:
        while len(self._events) < n:
            self._events.append(cuda.check(self._cudart.cudaEventCreate()))
        return self._events[:n]

    def time_runs(self, k: int) -> list[float]:
        """k runs timed twice: GPU compute time of back-to-back launches, then end-to-end latency of k
        launches each followed by a synchronize (ms). Returns the device's ``latency`` figure."""
        cudart, stream = self._cudart, self.stream
        events = self._event_pool(k + 1)
        self._launch()  # lead run: the stream is busy when the first timed event is reached
        cuda.check(cudart.cudaEventRecord(events[0], stream))
        for i in range(1, k + 1):
            self._launch()
            cuda.check(cudart.cudaEventRecord(events[i], stream))
        cuda.check(cudart.cudaEventSynchronize(events[k]))
        compute = [float(cuda.check(cudart.cudaEventElapsedTime(events[i - 1], events[i]))) for i in range(1, k + 1)]
        e2e = []
        clock = time.perf_counter_ns
        for _ in range(k):
            t0 = clock()
            self._launch()
            cuda.check(cudart.cudaStreamSynchronize(stream))
            e2e.append((clock() - t0) / 1e6)
        self.last_figures = {"compute_ms": compute, "e2e_ms": e2e}
        return compute if self.latency == "compute" else e2e

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Copy ``inputs`` in, run once, copy every output back (for checking results, not for timing)."""
        cudart = self._cudart
        for name, x in inputs.items():
            shape, dtype = self.inputs[name]
            if tuple(x.shape) != shape:
                raise ConfigError(f"input {name!r}: shape {tuple(x.shape)}, the engine is bound to {shape}")
            self._copy_in(name, x.astype(dtype))
        self._launch()
        cuda.check(cudart.cudaStreamSynchronize(self.stream))
        out = {}
        for name, (shape, dtype) in self.outputs.items():
            host = np.empty(shape, dtype)
            cuda.check(
                cudart.cudaMemcpy(
                    host.ctypes.data, self._ptr[name], host.nbytes, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
                )
            )
            out[name] = host
        return out

    def close(self) -> None:
        """Release the graph, events, buffers, stream, context and engine (each once; errors ignored)."""
        cudart = self._cudart
        if self.stream is not None:
            cudart.cudaStreamSynchronize(self.stream)
        if self._graph_exec is not None:
            cudart.cudaGraphExecDestroy(self._graph_exec)
        if self._graph is not None:
            cudart.cudaGraphDestroy(self._graph)
        self._graph_exec = self._graph = None
        for ev in self._events:
            cudart.cudaEventDestroy(ev)
        self._events = []
        self.context = None  # the context before the engine, the engine before the runtime
        self.engine = None
        self._runtime = None
        for ptr in self._buffers:
            cudart.cudaFree(ptr)
        self._buffers = []
        if self.stream is not None:
            cudart.cudaStreamDestroy(self.stream)
        self.stream = None


class TrtBackend(Backend):
    name = "tensorrt"
    # GPU runs are short and their first ones slow: more warm-up, shorter blocks of more runs.
    # latency_ms is GPU compute time unless a device says e2e; compute time from CUDA-graph launches.
    defaults: ClassVar[dict[str, object]] = {
        "provider": "",
        "threads": 0,
        "warmup_runs": 50,
        "block_ms": 10.0,
        "min_block_runs": 10,
        "max_block_runs": 200,
        "latency": "compute",
        "gpu_timing": "graph",
    }

    def uses_gpu(self, device: Device) -> bool:
        return True

    def check(self, device: Device) -> None:
        if device.clock == "thread":
            raise ConfigError(
                f"device {device.name!r}: TensorRT runs are timed with CUDA events and the "
                "host clock; the thread clock is for 1-thread CPU devices"
            )

    def available(self, device: Device) -> tuple[bool, str]:
        missing = []
        if not tensorrt_installed():
            missing.append(INSTALL_HINT)
        count, why = cuda.device_count()
        if not count:
            missing.append(
                "a CUDA GPU ("
                + (
                    "cuda-python, which hwnas uses to reach it, is not installed: pip install cuda-python"
                    if "cuda-python" in why
                    else why
                )
                + ")"
            )
        if missing:
            return False, "missing " + "; and ".join(missing)
        try:
            import tensorrt as trt
        except Exception as e:  # installed but its libraries do not load
            return False, f"tensorrt is installed but does not load: {_one_line(e)}"
        major = int(str(trt.__version__).split(".")[0])
        if major < 10:
            return False, f"TensorRT {trt.__version__} is too old (10 or 11 needed)"
        return True, ""

    def open(self, device: Device, onnx_path: str | Path, seed: int = 0) -> TrtRunner:
        return TrtRunner(onnx_path, device, seed=seed)

    def clock(self, device: Device) -> str:
        return "wall" if device.latency == "e2e" else "cuda-event"

    def timing(self, device: Device) -> str:
        """What latency_ms, compute_ms and e2e_ms of a record on ``device`` are (recorded with it)."""
        launch = "CUDA-graph launches" if device.gpu_timing == "graph" else "execute_async_v3 enqueues"
        return (
            f"latency_ms={'compute_ms' if device.latency != 'e2e' else 'e2e_ms'}; compute_ms: CUDA "
            f"events between back-to-back {launch}; e2e_ms: perf_counter around one launch + stream "
            f"synchronize; precision {device.precision}"
        )

    def version(self) -> str:
        if not tensorrt_installed():
            return ""
        try:
            import tensorrt as trt
        except Exception:
            return ""
        return str(trt.__version__)

    def host(self, device: Device) -> dict[str, str]:
        return {**super().host(device), **cuda.gpu_info()}
