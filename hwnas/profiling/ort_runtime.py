"""ONNX Runtime runner: one session per model, input bound once, timed by wall or thread CPU time."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hwnas.devices import Device

_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}


def session_options(device: Device):  # noqa: ANN201 (onnxruntime.SessionOptions)
    """Explicit threads, sequential execution, all graph optimisations, no spinning between runs."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = device.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return so


class OrtRunner:
    """A session on ``device``'s execution provider with one fixed random input (seeded)."""

    def __init__(self, onnx_path: str | Path, device: Device, seed: int = 0) -> None:
        import onnxruntime as ort

        if device.provider == "CPUExecutionProvider" and device.threads < 1:
            # ONNX Runtime would silently use its default (all cores) and the record would lie
            raise ValueError(f"unusable thread count {device.threads} (must be at least 1)")
        t0 = time.perf_counter()
        self.session = ort.InferenceSession(str(onnx_path), session_options(device),
                                            providers=[device.provider])
        if self.session.get_providers()[0] != device.provider:  # ORT falls back to CPU with a warning
            raise RuntimeError(f"{device.provider} did not load; ONNX Runtime fell back to "
                               f"{self.session.get_providers()[0]}")
        inp = self.session.get_inputs()[0]
        shape = [d if isinstance(d, int) else device.batch_size for d in inp.shape]
        x = np.random.default_rng(seed).standard_normal(shape).astype(_NP_TYPES.get(inp.type, np.float32))
        self.binding = self.session.io_binding()
        self.binding.bind_cpu_input(inp.name, x)
        for out in self.session.get_outputs():
            self.binding.bind_output(out.name)
        self.clock = time.thread_time_ns if device.clock == "thread" else time.perf_counter_ns
        self.setup_s = time.perf_counter() - t0
        self.runtime_version = ort.__version__

    def time_runs(self, k: int) -> list[float]:
        run, b, clock = self.session.run_with_iobinding, self.binding, self.clock
        out = []
        for _ in range(k):
            t0 = clock()
            run(b)
            out.append((clock() - t0) / 1e6)
        return out

    def close(self) -> None:
        self.session = None
        self.binding = None
