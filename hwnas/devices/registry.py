"""The registry of device names: built-in presets plus the devices of the user's file.

The user's file is the one given to :func:`use_file` (``--devices FILE``) or else the default one
(:func:`hwnas.devices.files.default_path`), read when a name is first looked up and again when it changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hwnas.core.errors import UnknownNameError
from hwnas.devices import files
from hwnas.devices.device import Device

_BUILTIN: dict[str, Callable[[], Device]] = {}
_explicit: Path | None = None  # set by use_file
_cache: tuple[tuple[Path, int] | None, dict[str, Device]] = (None, {})


def register(name: str) -> Callable[[Callable[[], Device]], Callable[[], Device]]:
    """Decorator: a built-in device made by the decorated function."""

    def deco(fn: Callable[[], Device]) -> Callable[[], Device]:
        _BUILTIN[name] = fn
        return fn

    return deco


def builtin(name: str) -> Device | None:
    return _BUILTIN[name]() if name in _BUILTIN else None


def builtin_names() -> list[str]:
    return list(_BUILTIN)


def _read(path: Path) -> dict[str, Device]:
    global _cache
    try:
        stamp: tuple[Path, int] | None = (path, path.stat().st_mtime_ns)
    except OSError:
        stamp = None  # missing: files.load says so
    if stamp is None or _cache[0] != stamp:
        _cache = (stamp, {d.name: d for d in files.load(path, builtin)})
    return _cache[1]


def use_file(path: str | Path | None) -> list[Device]:
    """Take user devices from ``path`` instead of the default file (None: back to the default)."""
    global _explicit
    if path is None:
        _explicit = None
        return []
    devices = list(_read(Path(path)).values())  # validate now: a bad file fails before any work
    _explicit = Path(path)
    return devices


def user_file() -> Path | None:
    """The devices file in use, if any."""
    return _explicit or files.default_path()


def user_devices() -> dict[str, Device]:
    path = user_file()
    return _read(path) if path is not None else {}


def names() -> list[str]:
    return builtin_names() + list(user_devices())


def source(name: str) -> str:
    """'built-in' or the file that defines ``name``."""
    return "built-in" if name in _BUILTIN else str(user_file())


def get(name: str | Device) -> Device:
    """The device called ``name`` (a Device passes through); UnknownNameError lists the known ones."""
    if isinstance(name, Device):
        return name
    if name in _BUILTIN:
        return _BUILTIN[name]()
    user = user_devices()
    if name not in user:
        where = user_file()
        hint = f" (user devices from {where})" if where else " (define more in a file: --devices FILE)"
        raise UnknownNameError(f"unknown device {name!r}; known: {', '.join(names())}{hint}")
    return user[name]


def all_devices() -> list[Device]:
    return [get(n) for n in names()]
