"""What every runtime backend provides: a :class:`Backend` (checks, opening models, clock, version,
host fingerprint) and the :class:`Runner` it opens (a loaded model the protocol times)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar

import numpy as np

from hwnas.core.errors import ConfigError
from hwnas.devices.host import cpu_model, physical_cores

if TYPE_CHECKING:
    from hwnas.devices.device import Device


class Runner(ABC):
    """A model loaded on a device with one fixed input, ready to be timed; close it (or use ``with``)."""

    setup_s: float = math.nan  # session creation / engine build, seconds
    runtime_version: str = ""
    releasable: ClassVar[bool] = False  # release() frees the session until the next timed run

    def release(self) -> None:
        """Free the session until the next timed run re-creates it (a no-op unless ``releasable``)."""
        return None

    @property
    def live(self) -> bool:
        """Whether the session is alive now, holding its memory (only a ``releasable`` runner's may not be)."""
        return True

    @abstractmethod
    def time_runs(self, k: int) -> list[float]:
        """Run the model ``k`` times; each run's latency in ms, by the backend's clock."""

    @abstractmethod
    def close(self) -> None:
        """Release the session or engine and its buffers."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend(ABC):
    """One runtime. Instances are stateless; the registry in :mod:`hwnas.profiling.backends` holds one each."""

    name: ClassVar[str]
    # Settings a device of this runtime gets unless it (or its file entry) sets them.
    defaults: ClassVar[dict[str, object]] = {}
    # The device precisions it measures (hwnas.devices.device.PRECISIONS)
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "tf32", "fp16")
    model_suffix: ClassVar[str] = ".onnx"  # the model files its runners open

    def check(self, device: Device) -> None:  # noqa: B027 -- an optional hook: accepting every device is the default
        """Raise ConfigError (one line) if ``device``'s settings make no sense for this runtime."""

    @abstractmethod
    def available(self, device: Device) -> tuple[bool, str]:
        """(usable here, why not): the reason is one line naming what is missing."""

    @abstractmethod
    def open(self, device: Device, onnx_path: str | Path, seed: int = 0) -> Runner:
        """Load ``onnx_path`` for ``device`` with a seeded random input bound once."""

    @abstractmethod
    def clock(self, device: Device) -> str:
        """The clock its runners time with: ``thread``, ``wall`` or ``cuda-event`` (recorded)."""

    @abstractmethod
    def version(self) -> str:
        """The runtime's version, or '' when it is not installed."""

    def logits(self, device: Device, model_path: str | Path) -> Callable[[np.ndarray], np.ndarray]:
        """A function from a batch of images (float32, the model's batch size) to logits, for scoring a
        deployed model's accuracy (not timed). ConfigError where this runtime cannot do it here."""
        raise ConfigError(
            f"device {device.name!r}: scoring a model's accuracy on the {self.name} runtime is not supported"
        )

    def uses_gpu(self, device: Device) -> bool:
        """Does ``device`` run on a GPU (whose driver maps more address space than a memory limit allows)?"""
        return any(g in device.provider.lower() for g in ("cuda", "tensorrt", "rocm", "dml", "coreml"))

    def caveat(self, device: Device) -> str:
        """A one-line warning about measuring ``device`` on this machine ('' when none), e.g. a
        precision the CPU has no fast instructions for."""
        return ""

    def host(self, device: Device) -> dict[str, str]:
        """What of this machine a measurement on ``device`` depends on (GPU backends add the GPU)."""
        v = self.version()
        return {"cpu": cpu_model(), "cores": str(physical_cores()), "runtime": f"{self.name} {v}" if v else self.name}
