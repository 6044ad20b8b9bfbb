"""PyTorch backend: a ``torch.export`` program (``.pt2``, :mod:`hwnas.supernet.export_torch`) run eagerly,
or through ``torch.compile`` when the device sets ``compile_mode``; one fixed seeded input, inference mode.

CPU (provider ``cpu``): torch's intra-op thread count is a process-wide setting, so it is set to the
device's around each block and restored after (other torch work in the process keeps its own). With one
thread the whole forward pass runs on the calling thread, so ``clock='thread'`` times it by that thread's
CPU time, as the ONNX Runtime ``cpu`` device does; else ``perf_counter``.

GPU (provider ``cuda``): the forward pass is captured once in a CUDA graph. A block replays it back to
back with CUDA events between replays (GPU compute time: ``latency_ms``, ``compute_ms``), then times
replay + synchronize with the host clock (``e2e_ms``); both are in ``last_figures``. Compile modes that
capture CUDA graphs themselves (``reduce-overhead``, ``max-autotune``) are called as they are.

This module imports torch only inside its functions: device definitions consult every backend.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from hwnas.core.errors import ConfigError
from hwnas.devices.host import physical_cores
from hwnas.profiling.backends.base import Backend, Runner

if TYPE_CHECKING:
    from hwnas.devices.device import Device

PROVIDERS = ("cpu", "cuda")
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
SELF_GRAPHED = ("reduce-overhead", "max-autotune")  # torch.compile modes that replay their own CUDA graphs
GPU_WARMUP_CALLS = 3  # before capture, on a side stream (as torch's CUDA-graph notes ask)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` (0: left as they are) for the duration."""
    import torch

    before = torch.get_num_threads()
    if n and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n and n != before:
            torch.set_num_threads(before)


class TorchRunner(Runner):
    """A loaded program on ``device`` with one fixed random input (seeded)."""

    def __init__(self, path: str | Path, device: Device, seed: int = 0) -> None:
        import torch

        from hwnas.supernet.export_torch import input_shape, load_program

        t0 = time.perf_counter()
        self.gpu = device.provider == "cuda"
        self.threads = device.threads
        self.clock = time.thread_time_ns if device.clock == "thread" else time.perf_counter_ns
        self.last_figures: dict[str, list[float]] = {}
        self._graph: Any = None
        program = load_program(path)
        shape = input_shape(program)
        x = torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))
        module = program.module()
        if self.gpu:
            module, x = module.to("cuda"), x.to("cuda")
        self.model: Callable[[Any], Any] = (
            torch.compile(module, mode=device.compile_mode) if device.compile_mode else module
        )
        self.x = x
        with torch_threads(self.threads), torch.inference_mode():
            self.model(x)  # the first call compiles, when compiling
            if self.gpu and device.compile_mode not in SELF_GRAPHED:
                self._capture()
        if self.gpu:
            torch.cuda.synchronize()
        self.setup_s = time.perf_counter() - t0
        self.runtime_version = str(torch.__version__)

    def _capture(self) -> None:
        import torch

        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(GPU_WARMUP_CALLS):
                self.model(self.x)
        torch.cuda.current_stream().wait_stream(side)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph):
            self._out = self.model(self.x)

    def _launch(self) -> None:
        if self._graph is not None:
            self._graph.replay()
        else:
            self.model(self.x)

    def time_runs(self, k: int) -> list[float]:
        import torch

        with torch_threads(self.threads), torch.inference_mode():
            return self._time_gpu(k) if self.gpu else self._time_cpu(k)

    def _time_cpu(self, k: int) -> list[float]:
        model, x, clock = self.model, self.x, self.clock
        out = []
        for _ in range(k):
            t0 = clock()
            model(x)
            out.append((clock() - t0) / 1e6)
        return out

    def _time_gpu(self, k: int) -> list[float]:
        import torch

        events = [torch.cuda.Event(enable_timing=True) for _ in range(k + 1)]
        self._launch()  # lead run: the stream is busy when the first timed event is reached
        events[0].record()
        for e in events[1:]:
            self._launch()
            e.record()
        events[-1].synchronize()
        compute = [float(a.elapsed_time(b)) for a, b in zip(events, events[1:])]
        e2e = []
        for _ in range(k):
            t0 = time.perf_counter_ns()
            self._launch()
            torch.cuda.synchronize()
            e2e.append((time.perf_counter_ns() - t0) / 1e6)
        self.last_figures = {"compute_ms": compute, "e2e_ms": e2e}
        return compute

    def close(self) -> None:
        self._graph = None
        self.model = self.x = None  # type: ignore[assignment]
        self._out = None


def torch_version() -> str:
    """The installed torch's version ('' if none), read without importing it."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return ""


def cuda_answers() -> tuple[bool, str]:
    """Does a CUDA GPU answer torch? Asked through cuda-python where installed (no torch import), else torch."""
    version = torch_version()
    if "+cpu" in version:
        return False, f"torch {version} is a CPU-only build (install a CUDA build of torch)"
    if importlib.util.find_spec("cuda") is not None:
        from hwnas.profiling.backends.cuda import device_count

        count, why = device_count()
        return (True, "") if count else (False, why)
    import torch

    return (True, "") if torch.cuda.is_available() else (False, "torch sees no CUDA GPU")


class TorchBackend(Backend):
    name = "torch"
    defaults: ClassVar[dict[str, object]] = {"provider": "cpu", "compile_mode": ""}
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    model_suffix: ClassVar[str] = ".pt2"  # hwnas.supernet.export_torch

    def check(self, device: Device) -> None:
        where = f"device {device.name!r}"
        if device.provider not in PROVIDERS:
            raise ConfigError(f"{where}: the torch runtime's provider is one of {PROVIDERS}, not {device.provider!r}")
        if device.compile_mode and device.compile_mode not in COMPILE_MODES:
            raise ConfigError(f"{where}: compile_mode must be one of {COMPILE_MODES} ('' = eager)")
        if device.provider == "cpu" and device.threads < 1:
            raise ConfigError(f"{where}: a torch CPU device needs at least 1 thread")
        if device.clock == "thread" and (device.threads != 1 or device.provider != "cpu"):
            raise ConfigError(f"{where}: the thread clock needs 1 thread on the CPU")

    def available(self, device: Device) -> tuple[bool, str]:
        if not torch_version():
            return False, "the torch package is not installed"
        if device.provider == "cuda":
            return cuda_answers()
        if device.threads > physical_cores():
            return False, f"{device.threads} threads but only {physical_cores()} physical cores here"
        return True, ""

    def open(self, device: Device, onnx_path: str | Path, seed: int = 0) -> TorchRunner:
        return TorchRunner(onnx_path, device, seed=seed)

    def logits(self, device: Device, model_path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
        import torch

        from hwnas.supernet.export_torch import load_program

        module = load_program(model_path).module()
        where = "cuda" if device.provider == "cuda" else "cpu"
        module.to(where)

        def forward(x: np.ndarray) -> np.ndarray:
            with torch_threads(device.threads), torch.inference_mode():
                return np.asarray(module(torch.from_numpy(x).to(where)).float().cpu().numpy())

        return forward

    def clock(self, device: Device) -> str:
        return "cuda-event" if device.provider == "cuda" else device.clock

    def timing(self, device: Device) -> str:
        """What latency_ms (and, on a GPU, compute_ms and e2e_ms) of a record on ``device`` are."""
        how = f"torch.compile mode {device.compile_mode}" if device.compile_mode else "eager"
        if device.provider != "cuda":
            return f"latency_ms: {device.clock} clock around each forward pass ({how})"
        launch = "calls" if device.compile_mode in SELF_GRAPHED else "CUDA-graph replays"
        return (
            f"latency_ms=compute_ms; compute_ms: CUDA events between back-to-back {launch}; e2e_ms: "
            f"perf_counter around one launch + synchronize ({how})"
        )

    def version(self) -> str:
        return torch_version()

    def host(self, device: Device) -> dict[str, str]:
        out = super().host(device)
        if device.provider == "cuda":
            from hwnas.profiling.backends.cuda import gpu_info

            out.update(gpu_info())
        return out
