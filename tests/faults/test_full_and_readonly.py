"""A full disk (a small tmpfs) and a read-only folder (a read-only bind mount), each in a private mount
namespace, under profile, fit, train and search: one line, exit 2, and the earlier outputs intact."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.conftest import snapshot

HWNAS = f"{shlex.quote(sys.executable)} -m hwnas"


def _namespaces_work() -> str | None:
    if shutil.which("unshare") is None:
        return "no unshare command"
    r = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt && umount /mnt"],
        capture_output=True,
        text=True,
    )
    return None if r.returncode == 0 else f"cannot make a private mount namespace here: {r.stderr.strip()}"


REASON = _namespaces_work()
pytestmark = [pytest.mark.skipif(REASON is not None, reason=REASON or ""), pytest.mark.slow]

COMMANDS = {
    "profile": "profile --device cpu --space mnist-cpu -n 45 --db {d}/latency.db",
    "fit": "fit --device cpu --space mnist-cpu --families ridge --no-curve --workdir {d}",
    "train": "train --space mnist-cpu --max-steps 1 --batch-size 8 --threads 1 --force --workdir {d}",
    "search": (
        "search --objective params --space mnist-cpu --budget cpu=5 --margin 0.2 --no-measure "
        "--population 4 --generations 1 --workdir {d}"
    ),
}
STATE = (
    f'{shlex.quote(sys.executable)} -c \'import json,sys; sys.path.insert(0, "{Path(__file__).parents[2]}"); '
    "from tests.faults.conftest import snapshot; from pathlib import Path; "
    'print("STATE", json.dumps(snapshot(Path(sys.argv[1]))))\' {d}'
)


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=600)


def _check(r: subprocess.CompletedProcess, before: dict[str, str], after: dict[str, str]) -> None:
    lines = r.stderr.strip().splitlines()  # progress lines may come first
    assert "rc=2" in r.stdout, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "error:" in lines[-1] and sum("error" in line for line in lines) == 1, r.stderr
    # every earlier output intact, nothing half-written beside them (SQLite's own -wal/-shm aside)
    assert {k: v for k, v in after.items() if not k.endswith(("-wal", "-shm"))} == before


@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_full_disk_keeps_the_old_outputs(cmd, old_run, tmp_path):
    d = tmp_path / "run"
    d.mkdir()
    before = snapshot(old_run.root)
    script = (
        f"set -e; mount -t tmpfs -o size=48m tmpfs {d}; cp -a {old_run.root}/. {d}/; "
        f"dd if=/dev/zero of={d}/.fill bs=64k 2>/dev/null || true; "
        f"dd if=/dev/zero of={d}/.fill2 bs=512 2>/dev/null || true; set +e; "
        f"{HWNAS} {COMMANDS[cmd].format(d=d)}; echo rc=$?; {STATE.format(d=d)}"
    )
    r = _run(script)
    state = next(line for line in r.stdout.splitlines() if line.startswith("STATE "))
    _check(r, before, json.loads(state[6:]))
    assert "disk is full" in r.stderr or "No space left" in r.stderr or "full" in r.stderr, r.stderr


@pytest.mark.parametrize("cmd", list(COMMANDS))
def test_read_only_folder_keeps_the_old_outputs(cmd, old_run, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(old_run.root, d)
    before = snapshot(d)
    r = _run(
        f"set -e; mount --bind {d} {d}; mount -o remount,ro,bind {d} {d}; set +e; "
        f"{HWNAS} {COMMANDS[cmd].format(d=d)}; echo rc=$?"
    )
    _check(r, before, snapshot(d))
    assert "read-only" in r.stderr, r.stderr


def test_records_reads_a_store_on_read_only_storage(old_run, tmp_path):
    d = tmp_path / "run"
    shutil.copytree(old_run.root, d)
    before = snapshot(d)
    r = _run(
        f"set -e; mount --bind {d} {d}; mount -o remount,ro,bind {d} {d}; "
        f"{HWNAS} records --db {d}/latency.db --ok-only | wc -l"
    )
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) == 41  # header + 40 records
    assert snapshot(d) == before and not list(d.glob("latency.db-*"))
