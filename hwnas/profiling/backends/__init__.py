"""Runtime backends, registered by name and imported only when a device uses them.

Each backend module (``ort`` for ONNX Runtime, ``trt`` for TensorRT, ``pytorch`` for PyTorch) is the only
place that knows its runtime: what it needs to be usable, how it loads and times a model, which clock it
uses, its version and what of the host it depends on. Everything else asks through :func:`backend` /
:func:`backend_for`.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Mapping

from hwnas.core.errors import DeviceUnavailableError, UnknownNameError
from hwnas.profiling.backends.base import Backend, Runner

if TYPE_CHECKING:
    from hwnas.devices.device import Device

__all__ = [
    "Backend",
    "Runner",
    "backend",
    "backend_for",
    "fingerprint",
    "names",
    "open_runner",
    "require_available",
]

# runtime name -> "module:Class"; the module is imported on first use
_TARGETS: Mapping[str, str] = MappingProxyType(
    {
        "onnxruntime": "hwnas.profiling.backends.ort:OrtBackend",
        "tensorrt": "hwnas.profiling.backends.trt:TrtBackend",
        "torch": "hwnas.profiling.backends.pytorch:TorchBackend",
    }
)


def names() -> list[str]:
    return list(_TARGETS)


def backend(name: str) -> Backend:
    """The backend of runtime ``name`` (one per process); UnknownNameError lists the known ones."""
    if name not in _TARGETS:
        raise UnknownNameError(f"unknown runtime {name!r}; known: {', '.join(names())}")
    return _loaded(name)


@functools.cache
def _loaded(name: str) -> Backend:
    module, _, cls = _TARGETS[name].partition(":")
    backend: Backend = getattr(importlib.import_module(module), cls)()
    return backend


def backend_for(device: Device) -> Backend:
    return backend(device.runtime)


def require_available(device: Device) -> None:
    """DeviceUnavailableError with the one-line reason if ``device`` cannot run here."""
    ok, why = backend_for(device).available(device)
    if not ok:
        raise DeviceUnavailableError(f"device {device.name!r} is not usable here: {why}")


def open_runner(device: Device, onnx_path: str | Path, seed: int = 0) -> Runner:
    """``onnx_path`` (a ``.pt2`` program for the torch runtime) loaded on ``device``: call ``time_runs(k)``,
    read ``setup_s``/``runtime_version``, close."""
    return backend_for(device).open(device, onnx_path, seed=seed)


def fingerprint(device: Device) -> dict[str, str]:
    """The host fingerprint a measurement on ``device`` carries (CPU, cores, runtime; GPU if any)."""
    return backend_for(device).host(device)
