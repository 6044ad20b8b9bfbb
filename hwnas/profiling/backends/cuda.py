"""CUDA through cuda-python, for the GPU backends: device count, error checks, GPU name and driver, the
native handle of a cuda-python object.

cuda-python is an optional extra, imported inside each function. It imports without a GPU (its calls then
return an error code), so CI checks that every runtime call named here and in the TensorRT backend exists.
"""

from __future__ import annotations

from pathlib import Path
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


def handle(obj: Any) -> int:
    """The native handle (address) behind a cuda-python object such as a stream, as an int.

    cuda-python deprecates ``int(obj)`` in favour of ``cuda.bindings.utils.get_cuda_native_handle``
    (cuda-bindings 12.9.1 / 13.0 on); older releases only have ``int(obj)``.
    """
    try:
        from cuda.bindings.utils import get_cuda_native_handle
    except ImportError:  # cuda-python 12 before the accessor
        return int(obj)
    return int(get_cuda_native_handle(obj))


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


def driver_build() -> str:
    """The NVIDIA kernel driver's version (e.g. '550.54.14') where the OS shows it, else ''."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text()
    except OSError:
        return ""
    for word in text.split():
        parts = word.split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts):
            return word
    return ""


def gpu_identity(index: int = 0) -> dict[str, str]:
    """Name, compute capability and driver of GPU ``index``: what a TensorRT timing cache depends on.

    Raises DeviceUnavailableError when no GPU answers (the caller is about to use the GPU anyway).
    """
    rt = cudart()
    props = check(rt.cudaGetDeviceProperties(index))
    driver = int(check(rt.cudaDriverGetVersion()))
    name = props.name
    name = name.split(b"\0", 1)[0].decode() if isinstance(name, bytes) else str(name)
    build = driver_build()
    return {
        "gpu": name,
        "compute_capability": f"{props.major}.{props.minor}",
        "driver": f"CUDA {driver // 1000}.{driver % 1000 // 10}" + (f", driver {build}" if build else ""),
    }
