"""What a benchmark run leaves behind: its figures as JSON, for the documentation's benchmark pages.

Every script in this folder prints its results and, at its end, calls :func:`save` with the same figures
as tables and notes. :func:`save` writes ``docs/benchmarks/data/<script>.json`` with the command line,
the date, the machine (CPU model, cores, the instruction-set flags that decide int8 and bf16 speed, the
load average when the script started and when it ended) and the versions that produced them; the
documentation renders the newest file of each script on its page.

Set ``HWNAS_BENCHMARK_DATA`` to write somewhere else: a folder (``<script>.json`` goes into it) or a
path ending in ``.json``. Use it for trial runs, so that they do not replace the recorded figures.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "docs" / "benchmarks" / "data"
ENV = "HWNAS_BENCHMARK_DATA"
FORMAT = 1
# flags that change how fast a CPU runs these models: wide vectors, int8 dot products, native bf16
FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")
PACKAGES = ("hwnas", "torch", "onnxruntime", "onnx", "numpy")


def _load() -> float | None:
    """The 1-minute load average, where the system has one."""
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _process_start() -> float:
    """When this process started (seconds since the epoch); where /proc cannot say, now."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: start time after boot, in ticks
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


_STARTED = _process_start()
_LOAD_BEFORE = _load()  # as a script imports this module, i.e. as it starts (right after its other imports)


@dataclass
class Table:
    """One result table: the same rows the script prints, as text or numbers."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))


class Notes(list):
    """Lines of a script's summary: :meth:`say` prints one and keeps it for the record."""

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.append(line)


def _relative(arg: str) -> str:
    """An argument with this checkout's and the working folder's absolute paths made relative."""
    for base in (str(ROOT), os.getcwd()):
        if base != os.sep:
            arg = arg.replace(base + os.sep, "")
    return arg


def command(script: str, argv: Sequence[str] | None = None) -> str:
    """The command line as run from the repository root: ``python benchmarks/<script>.py ARGS``."""
    args = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(["python", f"benchmarks/{Path(script).stem}.py", *(_relative(a) for a in args)])


def machine() -> dict[str, Any]:
    from hwnas.devices.host import cpu_flags, cpu_model, physical_cores, usable_cpus

    flags = cpu_flags()
    gpu = None
    torch = sys.modules.get("torch")  # only where the script used torch: importing it here costs seconds
    if torch is not None and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
    return {
        "cpu": cpu_model(),
        "arch": platform.machine(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "physical_cores": physical_cores(),
        "flags": [f for f in FLAGS if f in flags],
        "gpu": gpu,
        "load_before": _LOAD_BEFORE,
        "load_after": _load(),
    }


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=10
        )
        out["commit"] = head.stdout.strip() if head.returncode == 0 and head.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        out["commit"] = None
    return out


def destination(script: str, path: str | Path | None = None) -> Path:
    """Where :func:`save` writes: ``path``, else ``$HWNAS_BENCHMARK_DATA``, else the documentation's data."""
    target = Path(path) if path is not None else Path(os.environ[ENV]) if os.environ.get(ENV) else DATA
    return target if target.suffix == ".json" else target / f"{Path(script).stem}.json"


def save(
    script: str,
    tables: Sequence[Table],
    notes: Sequence[str] = (),
    data: Any = None,
    *,
    path: str | Path | None = None,
    argv: Sequence[str] | None = None,
) -> Path:
    """Write the run's record (call it with ``__file__`` at the script's end); returns the file written.

    ``tables`` and ``notes`` hold what the script printed; ``data``, optionally, the raw figures a script
    already gathers (JSON-serialisable; floats of numpy are turned into plain floats)."""
    name = Path(script).stem
    now = time.time()
    record = {
        "format": FORMAT,
        "script": name,
        "command": command(script, argv),
        "date": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(max(0.0, now - _STARTED), 1),
        "machine": machine(),
        "versions": versions(),
        "tables": _scrub([asdict(t) for t in tables]),
        "notes": _scrub(list(notes)),
    }
    if data is not None:
        record["data"] = _scrub(data)
    out = destination(script, path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, default=_plain, ensure_ascii=False) + "\n")
    print(f"recorded: {_relative(str(out))}", file=sys.stderr)
    return out


def _scrub(x: Any) -> Any:
    """Strings with this checkout's absolute paths made relative, in nested lists, tuples and dicts."""
    if isinstance(x, str):
        return _relative(x)
    if isinstance(x, Path):
        return _relative(str(x))
    if isinstance(x, dict):
        return {k: _scrub(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_scrub(v) for v in x]
    return x


def _plain(x: Any) -> Any:
    """numpy scalars and arrays as JSON knows them; anything else as its text."""
    if hasattr(x, "tolist"):
        return x.tolist()
    return str(x)
