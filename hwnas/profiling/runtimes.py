"""Open a runner for a device: ONNX Runtime or TensorRT (imported only when needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwnas.core.errors import DeviceUnavailableError
from hwnas.devices import Device


def require_available(device: Device) -> None:
    """DeviceUnavailableError with the one-line reason if ``device`` cannot run here."""
    ok, why = device.available()
    if not ok:
        raise DeviceUnavailableError(f"device {device.name!r} is not usable here: {why}")


def open_runner(device: Device, onnx_path: str | Path, seed: int = 0) -> Any:
    """A loaded model on ``device`` with ``time_runs(k)``, ``setup_s``, ``runtime_version``, ``close()``."""
    if device.runtime == "tensorrt":
        from hwnas.profiling.trt_runtime import TrtRunner

        return TrtRunner(onnx_path, device, seed=seed)
    from hwnas.profiling.ort_runtime import OrtRunner

    return OrtRunner(onnx_path, device, seed=seed)


def runtime_version(device: Device) -> str:
    try:
        if device.runtime == "tensorrt":
            import tensorrt as trt

            return str(trt.__version__)
        import onnxruntime as ort

        return str(ort.__version__)
    except ImportError:
        return ""
