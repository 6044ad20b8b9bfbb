"""`Device`: what to measure latency on, and how (runtime, precision, batch, threads, run counts).

A device is a measurement setting, not only hardware: its thread count and batch size change latency, so
they belong to its definition and every record carries them. What a runtime needs (providers, clocks,
packages) is its backend's business (:mod:`hwnas.profiling.backends`, imported lazily, no torch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from hwnas.core.errors import ConfigError

# tf32: an FP32 model whose matmuls may round to TF32 (GPU runtimes); int8-*: an FP32 model quantized with
# ONNX Runtime's tools before it is measured (weights only, activations at run time / static QDQ, calibrated)
PRECISIONS = ("fp32", "tf32", "fp16", "int8-dynamic", "int8-static")
INT8_PRECISIONS = ("int8-dynamic", "int8-static")
DEFAULT_CALIBRATION = 256  # training images that calibrate an int8-static model's activation ranges
MIN_CALIBRATION = 32  # fewer images give ranges that depend on which images they were
CLOCKS = ("wall", "thread")
LATENCIES = ("compute", "e2e")  # which GPU figure is latency_ms (runtimes that time both)
GPU_TIMINGS = ("graph", "enqueue")  # how GPU compute time is taken: CUDA-graph launches or plain enqueues
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")  # names become file names (predictors/NAME.json)


@dataclass(frozen=True)
class Device:
    """How latency is measured on one target. Run counts feed :mod:`hwnas.profiling.protocol`."""

    name: str
    runtime: str  # a backend name: hwnas.profiling.backends.names()
    description: str = ""
    provider: str = ""  # execution provider ('' = the runtime's default)
    precision: str = "fp32"  # fp16 means an FP16 ONNX model; int8-* a quantized one (hwnas.profiling.quantize)
    calibration: int = 0  # int8-static: calibration images (0 = DEFAULT_CALIBRATION); 0 for other precisions
    batch_size: int = 1
    threads: int = 1  # intra-op threads (CPU); 0 = not applicable
    # The protocol (hwnas.profiling.protocol) sizes warm-up, blocks and rounds in time and stops a subnet's
    # rounds when its label is tight (label_tol), after min_rounds and min_ms, at most max_ms or rounds.
    warmup_runs: int = 10  # most warm-up runs required before steady counts (fewer for slow models)
    rounds: int = 16  # most interleaved rounds; each times one block of runs per subnet
    block_ms: float = 20.0  # target duration of one block (sets runs per block)
    min_block_runs: int = 1
    max_block_runs: int = 40
    min_rounds: int = 10  # fewest rounds of a subnet in a visit, unless max_ms is reached (then at least 3)
    min_ms: float = 200.0  # fewest timed milliseconds of a subnet in a visit (fast models: 10 rounds of 20 ms)
    max_ms: float = 2000.0  # time cap of a subnet's timed runs in a visit (past MIN_BLOCKS blocks)
    label_tol: float = 0.01  # stop once the p10's ~95 % interval is within +-label_tol (relative)
    max_spread: float = 0.10  # with max_retries > 0, records with a wider spread are re-measured ...
    max_retries: int = 0  # ... at most this many times (0: never; another visit does it better)
    clock: str = "wall"  # "thread": CPU time of the calling thread (1-thread CPU only)
    # memory the measured models' live sessions may take at once (MiB, the reference ladder's included):
    # an AutoFormer-T session holds ~250 MiB of folded relative-position tables, so 2048 keeps ~8 alive
    session_mib: int = 2048
    # GPU runtimes that time both GPU compute and end-to-end latency (TensorRT); '' = the runtime's default
    latency: str = ""  # which one is latency_ms: "compute" or "e2e"
    gpu_timing: str = ""  # compute time from "graph" (CUDA-graph launches) or "enqueue" runs
    min_batch: int = 0  # batch range an engine for a dynamic-batch model accepts;
    max_batch: int = 0  # 0 = batch_size (the model is built for that batch only)
    compile_mode: str = ""  # torch runtime: a torch.compile mode ('' = eager)

    def __post_init__(self) -> None:
        from hwnas.profiling import backends

        if not NAME_RE.fullmatch(self.name):
            raise ConfigError(
                f"device name {self.name!r}: use letters, digits and . _ + - (it becomes part of file names)"
            )
        if self.runtime not in backends.names():
            raise ConfigError(
                f"device {self.name!r}: runtime must be one of {tuple(backends.names())}, got {self.runtime!r}"
            )
        backend = backends.backend(self.runtime)
        if not self.provider:
            object.__setattr__(self, "provider", str(backend.defaults.get("provider", "")))
        if self.precision not in PRECISIONS:
            raise ConfigError(f"device {self.name!r}: precision must be one of {PRECISIONS}")
        if self.batch_size < 1 or self.rounds < 1 or self.min_block_runs < 1 or self.warmup_runs < 0:
            raise ConfigError(f"device {self.name!r}: batch size, rounds and block runs must be positive")
        if self.clock not in CLOCKS:
            raise ConfigError(f"device {self.name!r}: clock must be 'wall' or 'thread'")
        if self.max_block_runs < self.min_block_runs or self.max_retries < 0 or self.max_spread <= 0:
            raise ConfigError(f"device {self.name!r}: inconsistent block or retry settings")
        if self.min_rounds < 1 or self.min_ms < 0 or self.max_ms <= 0 or self.label_tol <= 0:
            raise ConfigError(f"device {self.name!r}: min_rounds, max_ms and label_tol must be positive")
        if self.session_mib < 1:
            raise ConfigError(f"device {self.name!r}: session_mib must be positive")
        self._check_gpu_settings(backend.defaults)
        if self.precision not in backend.precisions:
            raise ConfigError(
                f"device {self.name!r}: the {self.runtime} runtime measures precisions {backend.precisions}, "
                f"not {self.precision!r}"
            )
        self._check_calibration()
        if self.compile_mode and "compile_mode" not in backend.defaults:
            raise ConfigError(f"device {self.name!r}: compile_mode is a torch runtime setting, not {self.runtime}")
        backend.check(self)

    def _check_calibration(self) -> None:
        if self.precision != "int8-static":
            if self.calibration:
                raise ConfigError(f"device {self.name!r}: calibration applies to precision 'int8-static' only")
            return
        if not self.calibration:
            object.__setattr__(self, "calibration", DEFAULT_CALIBRATION)
        if self.calibration < MIN_CALIBRATION:
            raise ConfigError(
                f"device {self.name!r}: calibration {self.calibration} is too few images (at least {MIN_CALIBRATION})"
            )

    @property
    def quantized(self) -> bool:
        """Is the measured model an INT8 quantization of the FP32 one?"""
        return self.precision in INT8_PRECISIONS

    def _check_gpu_settings(self, defaults: dict[str, object]) -> None:
        """latency / gpu_timing / batch range / tf32 exist only for runtimes whose defaults name them."""
        gpu = "latency" in defaults
        for f in ("latency", "gpu_timing"):
            if not getattr(self, f) and gpu:
                object.__setattr__(self, f, str(defaults.get(f, "")))
        if not gpu and (
            self.latency or self.gpu_timing or self.min_batch or self.max_batch or self.precision == "tf32"
        ):
            raise ConfigError(
                f"device {self.name!r}: latency, gpu_timing, min_batch, max_batch and "
                f"precision 'tf32' apply to GPU runtimes that time both figures, not {self.runtime}"
            )
        if gpu and self.latency not in LATENCIES:
            raise ConfigError(f"device {self.name!r}: latency must be one of {LATENCIES}, got {self.latency!r}")
        if gpu and self.gpu_timing not in GPU_TIMINGS:
            raise ConfigError(f"device {self.name!r}: gpu_timing must be one of {GPU_TIMINGS}, got {self.gpu_timing!r}")
        lo, hi = self.batch_range
        if self.min_batch < 0 or self.max_batch < 0 or not 1 <= lo <= self.batch_size <= hi:
            raise ConfigError(
                f"device {self.name!r}: need 1 <= min_batch <= batch_size <= max_batch "
                f"(0 = batch_size), got {self.min_batch}, {self.batch_size}, {self.max_batch}"
            )

    @property
    def batch_range(self) -> tuple[int, int]:
        """(smallest, largest) batch an engine built for this device accepts."""
        return self.min_batch or self.batch_size, self.max_batch or self.batch_size

    def available(self) -> tuple[bool, str]:
        """(usable here, why not) — the reason is one line naming what is missing."""
        from hwnas.profiling.backends import backend_for

        return backend_for(self).available(self)

    def with_(self, **changes: object) -> Device:
        """A copy with some fields changed (e.g. fewer rounds for a quick look). A precision other than
        int8-static drops the calibration size unless ``changes`` sets it."""
        if changes.get("precision", "int8-static") != "int8-static":
            changes.setdefault("calibration", 0)
        return replace(self, **changes)  # type: ignore[arg-type]
