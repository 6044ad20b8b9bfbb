"""TensorRT backend (TensorRT 10 and 11, Python API), device memory and timing through cuda-python.

Build: parse the ONNX file into a strongly typed network (the STRONGLY_TYPED flag is required for
that on 10.x and accepted but ignored on 11.x, where every network is strongly typed), so precision
comes from the model: FP16 means an FP16 ONNX model (``export_onnx(..., fp16=True)``); there is no
FP16 builder flag (removed in 11). The builder's timing cache is loaded from and saved back to a file,
so later builds of similar subnets skip most kernel timing. The serialized engine is deserialized by a
``trt.Runtime``; tensors are bound with ``set_tensor_address``; each run is
``execute_async_v3`` on our own stream, timed between two CUDA events recorded on that stream.

``tensorrt`` and ``cuda-python`` are optional extras (``pip install hwnas[trt]``; TensorRT's wheels come
from NVIDIA's package index), imported inside the functions that use them.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hwnas.core.errors import ConfigError, MissingDependencyError
from hwnas.profiling.backends import cuda
from hwnas.profiling.backends.base import Backend, Runner

if TYPE_CHECKING:
    from hwnas.devices.device import Device

WORKSPACE_BYTES = 1 << 30


def _trt() -> Any:
    try:
        import tensorrt as trt
    except ImportError:
        raise MissingDependencyError("the gpu-trt device needs the tensorrt Python package "
                                     "(pip install tensorrt, from NVIDIA's package index)") from None
    return trt


def default_timing_cache() -> Path:
    return Path(os.environ.get("HWNAS_TRT_TIMING_CACHE")
                or Path(tempfile.gettempdir()) / "hwnas-trt-timing.cache")


def build_engine(onnx_path: str | Path, timing_cache: Path | None = None) -> bytes:
    """Serialized engine for ``onnx_path``; the timing cache file is read first and written back."""
    trt = _trt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse the ONNX model: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    cache_path = timing_cache or default_timing_cache()
    blob = cache_path.read_bytes() if cache_path.is_file() else b""
    cache = config.create_timing_cache(blob)
    config.set_timing_cache(cache, ignore_mismatch=True)  # a cache from another GPU is just ignored
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("TensorRT failed to build an engine (see its log above)")
    tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(memoryview(config.get_timing_cache().serialize()))
    os.replace(tmp, cache_path)
    return bytes(engine)


class TrtRunner(Runner):
    """An engine and its execution context with device buffers, a stream and two CUDA events."""

    def __init__(self, onnx_path: str | Path, device: Device, seed: int = 0,
                 timing_cache: Path | None = None) -> None:
        trt, cudart = _trt(), cuda.cudart()
        self._cudart = cudart
        t0 = time.perf_counter()
        blob = build_engine(onnx_path, timing_cache)
        self.build_s = time.perf_counter() - t0
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(blob)
        if self.engine is None:
            raise RuntimeError("TensorRT could not deserialize the engine it built")
        self.context = self.engine.create_execution_context()
        self.stream = cuda.check(cudart.cudaStreamCreate())
        self.start, self.end = cuda.check(cudart.cudaEventCreate()), cuda.check(cudart.cudaEventCreate())
        self._buffers: list[Any] = []
        rng = np.random.default_rng(seed)
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.context.get_tensor_shape(name))
            if any(d < 0 for d in shape):  # dynamic batch: fix it to the device's batch size
                shape = tuple(device.batch_size if d < 0 else d for d in shape)
                self.context.set_input_shape(name, shape)
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            nbytes = int(np.prod(shape)) * dtype.itemsize
            ptr = cuda.check(cudart.cudaMalloc(nbytes))
            self._buffers.append(ptr)
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                host = np.ascontiguousarray(rng.standard_normal(shape).astype(dtype))
                cuda.check(cudart.cudaMemcpy(ptr, host.ctypes.data, nbytes,
                                             cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
            self.context.set_tensor_address(name, int(ptr))
        self.setup_s = time.perf_counter() - t0
        self.runtime_version = trt.__version__

    def time_runs(self, k: int) -> list[float]:
        """k runs, each timed on the GPU between two events on our stream (ms)."""
        cudart, out = self._cudart, []
        handle = int(self.stream)
        for _ in range(k):
            cuda.check(cudart.cudaEventRecord(self.start, self.stream))
            if not self.context.execute_async_v3(handle):
                raise RuntimeError("execute_async_v3 failed")
            cuda.check(cudart.cudaEventRecord(self.end, self.stream))
            cuda.check(cudart.cudaEventSynchronize(self.end))
            out.append(float(cuda.check(cudart.cudaEventElapsedTime(self.start, self.end))))
        return out

    def close(self) -> None:
        cudart = self._cudart
        for ptr in self._buffers:
            cudart.cudaFree(ptr)
        self._buffers = []
        cudart.cudaEventDestroy(self.start)
        cudart.cudaEventDestroy(self.end)
        cudart.cudaStreamDestroy(self.stream)
        self.context = self.engine = None


class TrtBackend(Backend):
    name = "tensorrt"
    # GPU runs are short and their first ones slow: more warm-up, shorter blocks of more runs
    defaults: ClassVar[dict[str, object]] = {"provider": "", "threads": 0, "warmup_runs": 50,
                                             "block_ms": 10.0, "min_block_runs": 10, "max_block_runs": 200}

    def check(self, device: Device) -> None:
        if device.clock == "thread":
            raise ConfigError(f"device {device.name!r}: TensorRT runs are timed with CUDA events; "
                              "the thread clock is for 1-thread CPU devices")

    def available(self, device: Device) -> tuple[bool, str]:
        missing = []
        if importlib.util.find_spec("tensorrt") is None:
            missing.append("the tensorrt Python package (pip install tensorrt, from NVIDIA's package index)")
        count, why = cuda.device_count()
        if not count:
            missing.append("a CUDA GPU (" + ("cuda-python, which hwnas uses to reach it, is not installed: "
                                             "pip install cuda-python" if "cuda-python" in why else why) + ")")
        if missing:
            return False, "missing " + "; and ".join(missing)
        try:
            import tensorrt as trt
        except Exception as e:  # installed but its libraries do not load
            return False, f"tensorrt is installed but does not load: {e}"
        major = int(trt.__version__.split(".")[0])
        if major < 10:
            return False, f"TensorRT {trt.__version__} is too old (10 or 11 needed)"
        return True, ""

    def open(self, device: Device, onnx_path: str | Path, seed: int = 0) -> TrtRunner:
        return TrtRunner(onnx_path, device, seed=seed)

    def clock(self, device: Device) -> str:
        return "cuda-event"

    def version(self) -> str:
        if importlib.util.find_spec("tensorrt") is None:
            return ""
        try:
            import tensorrt as trt
        except Exception:
            return ""
        return str(trt.__version__)

    def host(self, device: Device) -> dict[str, str]:
        return {**super().host(device), **cuda.gpu_info()}
