"""CUDA through cuda-python, for the GPU backends: device count, error checks, GPU name and driver.

cuda-python is an optional extra, imported inside each function.
"""

from __future__ import annotations

from typing import Any

from hwnas.core.errors import DeviceUnavailableError, MissingDependencyError


def cudart() -> Any:
    """cuda-python's runtime module; MissingDependencyError says what to install."""
    try:
        from cuda.bindings import runtime as rt  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart as rt  # older cuda-python
        except ImportError:
            raise MissingDependencyError("TensorRT timing needs cuda-python (pip install cuda-python)") from None
    return rt


def check(result: Any) -> Any:
    """cuda-python returns (error, *values): raise on error, return the value(s)."""
    err, *values = result if isinstance(result, tuple) else (result,)
    rt = cudart()
    if err != rt.cudaError_t.cudaSuccess:
        raise DeviceUnavailableError(f"CUDA error {getattr(err, 'name', err)}")
    return values[0] if len(values) == 1 else values


def device_count() -> tuple[int, str]:
    """Number of CUDA GPUs that answer through cuda-python, or (0, why not)."""
    try:
        rt = cudart()
    except MissingDependencyError:
        return 0, "the cuda-python package is not installed (pip install cuda-python)"
    try:
        err, count = rt.cudaGetDeviceCount()
    except Exception as e:  # a missing driver library surfaces here
        return 0, f"no CUDA driver ({e})"
    if err != rt.cudaError_t.cudaSuccess or count < 1:
        return 0, f"no CUDA GPU answers ({getattr(err, 'name', err)})"
    return int(count), ""


def gpu_info(index: int = 0) -> dict[str, str]:
    """Name of GPU ``index`` and the driver's CUDA version ({} when no GPU answers)."""
    if not device_count()[0]:
        return {}
    rt = cudart()
    try:
        name = check(rt.cudaGetDeviceProperties(index)).name
        driver = int(check(rt.cudaDriverGetVersion()))
    except Exception:  # the fingerprint is informative; never fail a measurement over it
        return {}
    name = name.split(b"\0", 1)[0].decode() if isinstance(name, bytes) else str(name)
    return {"gpu": name, "driver": f"CUDA {driver // 1000}.{driver % 1000 // 10}"}
