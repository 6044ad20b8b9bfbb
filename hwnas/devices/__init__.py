"""Named devices: what to measure latency on, and how (runtime, precision, batch, threads, run counts).

A device is a measurement setting, not only hardware: its thread count and batch size change latency, so
they belong to its definition and every record carries them. ``get(name)`` returns one; ``names()`` lists
them; ``Device.available()`` says whether it can run here and, if not, why (one line).

No torch here (and the optional backends are imported only inside ``available()``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable

from hwnas.core.errors import ConfigError, UnknownNameError

RUNTIMES = ("onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16")


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores this process may use (SMT siblings counted once; never more than the affinity set)."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores: set[tuple[str, str]] = set()
    try:
        phys = core = None
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k = k.strip()
                if k == "physical id":
                    phys = v.strip()
                elif k == "core id":
                    core = v.strip()
                elif not k and core is not None:
                    cores.add((phys or "0", core))
                    phys = core = None
        if core is not None:
            cores.add((phys or "0", core))
    except OSError:
        pass
    return max(1, min(usable, len(cores) or usable))


@dataclass(frozen=True)
class Device:
    """How latency is measured on one target. Run counts feed :mod:`hwnas.profiling.protocol`."""

    name: str
    runtime: str                      # "onnxruntime" or "tensorrt"
    description: str = ""
    provider: str = "CPUExecutionProvider"  # ONNX Runtime execution provider (onnxruntime only)
    precision: str = "fp32"           # fp16 means an FP16 ONNX model (TensorRT 11 has no FP16 flag)
    batch_size: int = 1
    threads: int = 1                  # intra-op threads (CPU); 0 = not applicable
    warmup_runs: int = 10             # minimum warm-up runs; warm-up continues until steady
    rounds: int = 10                  # interleaved rounds; each times one block of runs per subnet
    block_ms: float = 20.0            # target duration of one block (sets runs per block)
    min_block_runs: int = 4
    max_block_runs: int = 40
    max_spread: float = 0.10          # records with a wider spread are re-measured ...
    max_retries: int = 1              # ... at most this many times
    clock: str = "wall"               # "thread": CPU time of the calling thread (1-thread CPU only)

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"device {self.name!r}: runtime must be one of {RUNTIMES}, got {self.runtime!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"device {self.name!r}: precision must be one of {PRECISIONS}")
        if self.batch_size < 1 or self.rounds < 1 or self.min_block_runs < 1 or self.warmup_runs < 0:
            raise ConfigError(f"device {self.name!r}: batch size, rounds and block runs must be positive")
        if self.clock not in ("wall", "thread"):
            raise ConfigError(f"device {self.name!r}: clock must be 'wall' or 'thread'")
        if self.clock == "thread" and (self.threads != 1 or self.provider != "CPUExecutionProvider"):
            raise ConfigError(f"device {self.name!r}: the thread clock needs 1 thread on the CPU provider "
                              "(only then does the whole run happen on the timing thread)")
        if self.max_block_runs < self.min_block_runs or self.max_retries < 0 or self.max_spread <= 0:
            raise ConfigError(f"device {self.name!r}: inconsistent block or retry settings")

    def available(self) -> tuple[bool, str]:
        """(usable here, why not) — the reason is one line naming what is missing."""
        return _CHECKS[self.runtime](self)

    def with_(self, **changes: object) -> Device:
        """A copy with some fields changed (e.g. fewer rounds for a quick look)."""
        return replace(self, **changes)


def _check_ort(dev: Device) -> tuple[bool, str]:
    if importlib.util.find_spec("onnxruntime") is None:
        return False, "the onnxruntime package is not installed (pip install onnxruntime)"
    import onnxruntime as ort

    if dev.provider not in ort.get_available_providers():
        hint = " (install onnxruntime-gpu and a CUDA driver)" if "CUDA" in dev.provider else ""
        return False, f"onnxruntime {ort.__version__} has no {dev.provider}{hint}"
    if dev.provider == "CPUExecutionProvider" and dev.threads > physical_cores():
        return False, f"{dev.threads} threads but only {physical_cores()} physical cores here"
    return True, ""


def cuda_device_count() -> tuple[int, str]:
    """Number of CUDA GPUs that answer through cuda-python, or (0, why not)."""
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError:
            return 0, "the cuda-python package is not installed (pip install cuda-python)"
    try:
        err, count = cudart.cudaGetDeviceCount()
    except Exception as e:  # a missing driver library surfaces here
        return 0, f"no CUDA driver ({e})"
    if err != cudart.cudaError_t.cudaSuccess or count < 1:
        return 0, f"no CUDA GPU answers ({getattr(err, 'name', err)})"
    return int(count), ""


def _check_trt(dev: Device) -> tuple[bool, str]:
    missing = []
    if importlib.util.find_spec("tensorrt") is None:
        missing.append("the tensorrt Python package (pip install tensorrt, from NVIDIA's package index)")
    count, why = cuda_device_count()
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


_CHECKS: dict[str, Callable[[Device], tuple[bool, str]]] = {"onnxruntime": _check_ort, "tensorrt": _check_trt}

_REGISTRY: dict[str, Callable[[], Device]] = {}


def register(name: str) -> Callable[[Callable[[], Device]], Callable[[], Device]]:
    def deco(fn: Callable[[], Device]) -> Callable[[], Device]:
        _REGISTRY[name] = fn
        return fn
    return deco


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str | Device) -> Device:
    """The device called ``name`` (a Device passes through); UnknownNameError lists the known ones."""
    if isinstance(name, Device):
        return name
    if name not in _REGISTRY:
        raise UnknownNameError(f"unknown device {name!r}; known: {', '.join(names())}")
    return _REGISTRY[name]()


def all_devices() -> list[Device]:
    return [get(n) for n in names()]


# One thread: on small models a second thread bought 0-25 % speed but made repeated measurements far
# less repeatable (any other process steals a core from a 2-thread run). With one thread the whole run
# happens on the calling thread, so its CPU time is the latency on an unshared core: time spent
# descheduled by other processes does not count. See hwnas.profiling.protocol.
@register("cpu")
def _cpu() -> Device:
    return Device("cpu", "onnxruntime", "ONNX Runtime CPU EP, 1 intra-op thread, sequential, all graph "
                  "optimisations, timed by thread CPU time", threads=1, clock="thread")


@register("cpu-mt")
def _cpu_mt() -> Device:
    n = physical_cores()
    return Device("cpu-mt", "onnxruntime", f"ONNX Runtime CPU EP, {n} threads (all physical cores here); "
                  "faster on big models, noisier on a shared machine", threads=n, max_retries=2)


@register("gpu-trt")
def _gpu_trt() -> Device:
    return Device("gpu-trt", "tensorrt", "TensorRT 10/11 engine (strongly typed), timed with CUDA events",
                  provider="", threads=0, warmup_runs=50, block_ms=10.0, min_block_runs=10,
                  max_block_runs=200)


@register("gpu-trt-fp16")
def _gpu_trt_fp16() -> Device:
    return _gpu_trt().with_(name="gpu-trt-fp16", precision="fp16",
                            description="TensorRT 10/11 engine from an FP16 ONNX model")


@register("gpu-ort-cuda")
def _gpu_ort_cuda() -> Device:
    return Device("gpu-ort-cuda", "onnxruntime", "ONNX Runtime CUDA EP (host timer; output copied back)",
                  provider="CUDAExecutionProvider", threads=1, warmup_runs=50, block_ms=10.0,
                  min_block_runs=10, max_block_runs=200)
