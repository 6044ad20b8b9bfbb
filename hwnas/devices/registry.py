"""The registry of device names: built-in presets plus the devices of one user's file.

A :class:`Devices` is what a command can name: the built-in devices and those of one devices file, given
(``--devices FILE``: ``Devices.load(path)``) or found (``Devices.default()``: ``$HWNAS_DEVICES``, else the
config folder, :func:`hwnas.devices.files.default_path`). The module functions (``get(name)``, ``names()``)
look in the default file unless given ``devices_file``. A file is read when a name is first looked up in it,
and again when it changes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hwnas.core.errors import UnknownNameError
from hwnas.devices import files
from hwnas.devices.device import Device

_BUILTIN: dict[str, Callable[[], Device]] = {}  # filled by @register while hwnas.devices.presets is imported


def register(name: str) -> Callable[[Callable[[], Device]], Callable[[], Device]]:
    """Decorator: a built-in device made by the decorated function (used at import time only)."""

    def deco(fn: Callable[[], Device]) -> Callable[[], Device]:
        _BUILTIN[name] = fn
        return fn

    return deco


def builtin(name: str) -> Device | None:
    return _BUILTIN[name]() if name in _BUILTIN else None


def builtin_names() -> list[str]:
    return list(_BUILTIN)


@functools.lru_cache(maxsize=16)
def _load(path: Path, stamp: tuple[int, int, int]) -> dict[str, Device]:
    """The devices of ``path`` as it was when it had ``stamp`` (a changed file has another: read again)."""
    return {d.name: d for d in files.load(path, builtin)}


def _read(path: Path) -> dict[str, Device]:
    try:
        st = path.stat()
    except OSError:
        return {d.name: d for d in files.load(path, builtin)}  # missing or unreadable: files.load says so
    return dict(_load(path, (st.st_mtime_ns, st.st_size, st.st_ino)))


@dataclass(frozen=True)
class Devices:
    """The devices a command can name: the built-in ones, then those of ``file`` (None: built-in only)."""

    file: Path | None = None

    @classmethod
    def load(cls, path: str | Path) -> Devices:
        """The built-in devices plus those of ``path``, read and validated now (a bad file fails before any work)."""
        devices = cls(Path(path))
        devices.user()
        return devices

    @classmethod
    def default(cls) -> Devices:
        """The built-in devices plus those of ``$HWNAS_DEVICES``, else of the config folder's devices file."""
        return cls(files.default_path())

    def user(self) -> dict[str, Device]:
        """The devices of the file, by name."""
        return _read(self.file) if self.file is not None else {}

    def names(self) -> list[str]:
        return builtin_names() + list(self.user())

    def get(self, name: str | Device) -> Device:
        """The device called ``name`` (a Device passes through); UnknownNameError lists the known ones."""
        if isinstance(name, Device):
            return name
        if name in _BUILTIN:
            return _BUILTIN[name]()
        user = self.user()
        if name not in user:
            where = self.file
            hint = f" (user devices from {where})" if where else " (define more in a file: --devices FILE)"
            raise UnknownNameError(f"unknown device {name!r}; known: {', '.join(self.names())}{hint}")
        return user[name]

    def all(self) -> list[Device]:
        return [self.get(n) for n in self.names()]

    def source(self, name: str) -> str:
        """'built-in' or the file that defines ``name``."""
        return "built-in" if name in _BUILTIN else str(self.file)


def _devices(devices_file: str | Path | None = None) -> Devices:
    """The devices of ``devices_file``, else of the default file (``$HWNAS_DEVICES``, the config folder)."""
    return Devices(Path(devices_file)) if devices_file is not None else Devices.default()


def user_file(devices_file: str | Path | None = None) -> Path | None:
    """The devices file in use, if any."""
    return _devices(devices_file).file


def names(devices_file: str | Path | None = None) -> list[str]:
    return _devices(devices_file).names()


def source(name: str, devices_file: str | Path | None = None) -> str:
    """'built-in' or the file that defines ``name``."""
    return _devices(devices_file).source(name)


def get(name: str | Device, devices_file: str | Path | None = None) -> Device:
    """The device called ``name`` (a Device passes through), built-in or from the devices file."""
    return _devices(devices_file).get(name)


def all_devices(devices_file: str | Path | None = None) -> list[Device]:
    return _devices(devices_file).all()
