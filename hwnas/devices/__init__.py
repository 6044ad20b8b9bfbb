"""Named devices: what to measure latency on, and how (runtime, precision, batch, threads, run counts).

``get(name)`` returns one; ``names()`` lists the built-in ones and those of the user's devices file
(:mod:`hwnas.devices.files`); ``Devices.load(path)`` holds the built-in ones and those of a given file.
``Device.available()`` says whether it can run here and, if not, why.
No torch here; runtime packages are imported only by their backends, when asked.
"""

from hwnas.devices import presets as _presets  # noqa: F401  (registers the built-in devices)
from hwnas.devices.device import PRECISIONS, Device
from hwnas.devices.files import default_path
from hwnas.devices.host import cpu_model, physical_cores
from hwnas.devices.registry import (
    Devices,
    all_devices,
    builtin_names,
    get,
    names,
    register,
    source,
    user_file,
)

__all__ = [
    "PRECISIONS",
    "Device",
    "Devices",
    "all_devices",
    "builtin_names",
    "cpu_model",
    "default_path",
    "get",
    "names",
    "physical_cores",
    "register",
    "source",
    "user_file",
]
