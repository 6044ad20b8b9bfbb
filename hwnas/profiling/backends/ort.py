"""ONNX Runtime backend: one session per model, input bound once (IOBinding), explicit threads.

Timed by the calling thread's CPU time when the device asks for it (``clock='thread'``, 1 intra-op thread
on the CPU provider: then the whole run happens on that thread, so time spent descheduled by other
processes does not count), by ``perf_counter`` otherwise. The CUDA provider's run copies its output
back to the host, so the host clock around it covers the GPU work.
"""

from __future__ import annotations

import importlib.util
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from hwnas.core.errors import ConfigError
from hwnas.devices.host import INT8_FLAGS, native_int8, physical_cores
from hwnas.profiling.backends.base import Backend, Runner
from hwnas.profiling.heap import keep_large_blocks_unmapped

if TYPE_CHECKING:
    from hwnas.devices.device import Device

CPU = "CPUExecutionProvider"
_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def session_options(device: Device) -> Any:
    """Explicit threads, sequential execution, all graph optimisations, no spinning between runs."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = device.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return so


class OrtRunner(Runner):
    """A session on ``device``'s execution provider with one fixed random input (seeded).

    ``lazy``: the session is created at the first timed run, and :meth:`release` frees it (a later run
    creates it again), so the protocol decides how many sessions are alive at once."""

    releasable = True

    def __init__(self, onnx_path: str | Path, device: Device, seed: int = 0, lazy: bool = False) -> None:
        if device.provider == CPU and device.threads < 1:
            # ONNX Runtime would silently use its default (all cores) and the record would lie
            raise ValueError(f"unusable thread count {device.threads} (must be at least 1)")
        self.path, self.device, self.seed = str(onnx_path), device, seed
        self.session: Any = None
        self.binding: Any = None
        self.clock = time.thread_time_ns if device.clock == "thread" else time.perf_counter_ns
        if not lazy:
            self._open()

    def _open(self) -> None:
        import onnxruntime as ort

        keep_large_blocks_unmapped()
        device = self.device
        t0 = time.perf_counter()
        self.session = ort.InferenceSession(self.path, session_options(device), providers=[device.provider])
        if self.session.get_providers()[0] != device.provider:  # ORT falls back to CPU with a warning
            raise RuntimeError(
                f"{device.provider} did not load; ONNX Runtime fell back to {self.session.get_providers()[0]}"
            )
        inp = self.session.get_inputs()[0]
        shape = [d if isinstance(d, int) else device.batch_size for d in inp.shape]
        x = np.random.default_rng(self.seed).standard_normal(shape).astype(_NP_TYPES.get(inp.type, np.float32))
        self.binding = self.session.io_binding()
        self.binding.bind_cpu_input(inp.name, x)
        for out in self.session.get_outputs():
            self.binding.bind_output(out.name)
        if math.isnan(self.setup_s):
            self.setup_s = time.perf_counter() - t0  # the first creation (a re-creation is not recorded)
        self.runtime_version = ort.__version__

    def time_runs(self, k: int) -> list[float]:
        if self.session is None:
            self._open()
        run, b, clock = self.session.run_with_iobinding, self.binding, self.clock
        out = []
        for _ in range(k):
            t0 = clock()
            run(b)
            out.append((clock() - t0) / 1e6)
        return out

    @property
    def live(self) -> bool:
        return self.session is not None

    def release(self) -> None:
        """Free the session until the next timed run."""
        self.session = None
        self.binding = None

    def close(self) -> None:
        self.release()


class OrtBackend(Backend):
    name = "onnxruntime"
    defaults: ClassVar[dict[str, object]] = {"provider": CPU}
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "int8-dynamic", "int8-static")

    def check(self, device: Device) -> None:
        if device.quantized and device.provider != CPU:
            raise ConfigError(f"device {device.name!r}: INT8 precisions are measured on the CPU provider ({CPU})")
        if device.clock == "thread" and (device.threads != 1 or device.provider != CPU):
            raise ConfigError(
                f"device {device.name!r}: the thread clock needs 1 thread on the CPU provider "
                "(only then does the whole run happen on the timing thread)"
            )

    def available(self, device: Device) -> tuple[bool, str]:
        if importlib.util.find_spec("onnxruntime") is None:
            return False, "the onnxruntime package is not installed (pip install onnxruntime)"
        import onnxruntime as ort

        if device.provider not in ort.get_available_providers():
            hint = " (install onnxruntime-gpu and a CUDA driver)" if "CUDA" in device.provider else ""
            return False, f"onnxruntime {ort.__version__} has no {device.provider}{hint}"
        if device.provider == CPU and device.threads > physical_cores():
            return False, f"{device.threads} threads but only {physical_cores()} physical cores here"
        return True, ""

    def logits(self, device: Device, model_path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
        """On the CPU provider (every precision hwnas quantizes runs there), the runtime's default threads."""
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        session = ort.InferenceSession(str(model_path), so, providers=[CPU])
        inp = session.get_inputs()[0]
        dtype = _NP_TYPES.get(inp.type, np.float32)
        return lambda x: np.asarray(session.run(None, {inp.name: x.astype(dtype)})[0], dtype=np.float32)

    def caveat(self, device: Device) -> str:
        if device.quantized and not native_int8():
            flags = "/".join(sorted(INT8_FLAGS))
            return f"INT8 may not be faster than FP32 here: this CPU has no int8 dot-product instructions ({flags})"
        return ""

    def open(self, device: Device, onnx_path: str | Path, seed: int = 0) -> OrtRunner:
        return OrtRunner(onnx_path, device, seed=seed, lazy=True)  # opened when first timed

    def clock(self, device: Device) -> str:
        return device.clock

    def version(self) -> str:
        try:
            import onnxruntime as ort
        except ImportError:
            return ""
        return str(ort.__version__)

    def host(self, device: Device) -> dict[str, str]:
        out = super().host(device)
        if device.provider.startswith("CUDA"):
            from hwnas.profiling.backends.cuda import gpu_info

            out.update(gpu_info())
        return out
