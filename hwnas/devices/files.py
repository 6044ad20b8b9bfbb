"""Devices defined by users in a TOML or YAML file.

::

    # devices.toml
    [devices.cpu-2t-b4]
    runtime = "onnxruntime"
    threads = 2
    batch_size = 4
    rounds = 6                    # any protocol setting of Device

    [devices.cpu-b8]
    base = "cpu"                  # start from a built-in device
    batch_size = 8

The same in YAML is a ``devices:`` mapping of names to settings. Keys are the fields of
:class:`~hwnas.devices.device.Device` (except ``name``) and ``base``. A runtime's own defaults (e.g. more
warm-up for TensorRT) apply to what the entry leaves out. The file is found at ``$HWNAS_DEVICES``, else
``$XDG_CONFIG_HOME/hwnas/devices.{toml,yaml,yml}`` (``~/.config`` when unset), or given with
``--devices FILE``. Every mistake is a one-line ConfigError naming the file and the device.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from hwnas.core.errors import ConfigError, NotFoundError
from hwnas.devices.device import Device

ENV = "HWNAS_DEVICES"
SUFFIXES = (".toml", ".yaml", ".yml")
_TYPES = {f.name: str(f.type) for f in fields(Device) if f.name != "name"}  # 'str' / 'int' / 'float'
KEYS = ("base", *_TYPES)


def default_path() -> Path | None:
    """``$HWNAS_DEVICES`` if set, else the first devices.{toml,yaml,yml} in the hwnas config folder."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    folder = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "hwnas"
    return next((folder / f"devices{s}" for s in SUFFIXES if (folder / f"devices{s}").is_file()), None)


def _load_toml(text: str) -> Any:
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            raise ConfigError(
                "reading TOML needs Python 3.11+ or the tomli package (pip install tomli); "
                "or write the devices file in YAML"
            ) from None
    return tomllib.loads(text)


def read(path: str | Path) -> Any:
    """The parsed content of a devices file (TOML or YAML, by its suffix)."""
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"devices file {p}: the name must end in .toml, .yaml or .yml")
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise NotFoundError(f"no devices file at {p}") from None
    except OSError as e:
        raise ConfigError(f"devices file {p}: {e.strerror}") from None
    try:
        return _load_toml(text) if p.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:  # tomllib.TOMLDecodeError is a ValueError
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"devices file {p} is not valid {p.suffix[1:].upper()}: {first}") from None


def _value(origin: str, key: str, v: Any) -> Any:
    want = _TYPES[key]
    if want == "int" and (isinstance(v, bool) or not isinstance(v, int)):
        raise ConfigError(f"{origin}: {key} must be an integer, got {v!r}")
    if want == "float" and (isinstance(v, bool) or not isinstance(v, (int, float))):
        raise ConfigError(f"{origin}: {key} must be a number, got {v!r}")
    if want == "str" and not isinstance(v, str):
        raise ConfigError(f"{origin}: {key} must be a string, got {v!r}")
    return float(v) if want == "float" else v


def device_of(name: str, entry: Mapping[str, Any], origin: str, builtin: Callable[[str], Device | None]) -> Device:
    """One device from its file entry; ``builtin(name)`` returns a built-in device or None."""
    from hwnas.profiling.backends import backend, names

    where = f"{origin}: device {name!r}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: expected a table of settings, got {entry!r}")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(KEYS)})")
    if builtin(name) is not None:
        raise ConfigError(
            f"{where}: a built-in device has that name; choose another (base = {name!r} starts from its settings)"
        )
    settings = {k: _value(where, k, v) for k, v in entry.items() if k != "base"}
    if "base" in entry:
        base = builtin(str(entry["base"]))
        if base is None:
            raise ConfigError(f"{where}: base {entry['base']!r} is not a built-in device")
        if "runtime" in settings and settings["runtime"] != base.runtime:
            raise ConfigError(f"{where}: base {base.name!r} runs on {base.runtime}, not {settings['runtime']}")
        changed = ", ".join(f"{k}={v}" for k, v in settings.items())
        settings.setdefault("description", f"{base.name} with {changed}" if changed else base.description)
        return _build(origin, lambda: base.with_(name=name, **settings))
    if "runtime" not in settings:
        raise ConfigError(f"{where}: set runtime (one of {', '.join(names())}) or base (a built-in device)")
    if settings["runtime"] not in names():
        raise ConfigError(f"{where}: unknown runtime {settings['runtime']!r} (known: {', '.join(names())})")
    defaults = dict(backend(settings["runtime"]).defaults)
    settings.setdefault("description", f"defined in {Path(origin).name}")
    return _build(origin, lambda: Device(name=name, **{**defaults, **settings}))


def _build(origin: str, make: Callable[[], Device]) -> Device:
    try:
        return make()
    except ConfigError as e:  # Device's own message names the device
        raise ConfigError(f"{origin}: {e}") from None


def load(path: str | Path, builtin: Callable[[str], Device | None]) -> list[Device]:
    """The devices a file defines, validated."""
    origin = str(path)
    data = read(path)
    if data is None:
        return []
    if not isinstance(data, Mapping) or set(data) - {"devices"}:
        raise ConfigError(f"{origin}: expected one 'devices' table of device names to settings")
    table = data.get("devices") or {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"{origin}: 'devices' must map device names to settings")
    return [device_of(str(name), entry, origin, builtin) for name, entry in table.items()]
