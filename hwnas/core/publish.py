"""Publishing a command's outputs as a set: all of the new files, or all of the old ones.

``with publish(folder, members) as stage:`` hands out a staging folder beside ``folder``
(``FOLDER.tmp-XXXX``) holding hard links of every file of ``folder`` that is not a member of the set.
The command writes its new members into ``stage``. On a clean exit every file is fsynced and the
staging folder takes the place of ``folder`` in one step (``renameat2(RENAME_EXCHANGE)`` where the
file system has it, else two renames that :func:`recover` completes after a crash). On any error
(a full disk, an interruption) the staging folder is removed and ``folder`` is as it was: members of
the old set that the new one lacks disappear only together with the new set's arrival.

Concurrent publishers of one folder are serialised by an advisory lock (``.FOLDER.lock`` beside it).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from hwnas.core.errors import ConfigError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system cannot (the caller falls back)."""
    libc = _libc()
    fn = getattr(libc, "renameat2", None) if libc is not None else None
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(folder: str | Path) -> Path:
    """Raise the OSError that writing into ``folder`` (or its nearest existing parent) would raise,
    before any work is done; a path that is a file is a ConfigError."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{probe} is a file, not a folder")
    fd, tmp = tempfile.mkstemp(prefix=".hwnas-probe-", dir=probe)
    os.close(fd)
    os.unlink(tmp)
    return folder


def recover(folder: str | Path) -> None:
    """Finish a swap that a crash cut short: the folder missing, its previous version beside it."""
    folder = Path(folder)
    if folder.exists():
        return
    olds = sorted(folder.parent.glob(f"{folder.name}.old-*"))
    if olds:
        os.rename(olds[-1], folder)


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    fd = os.open(folder.parent / f".{folder.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _stage(folder: Path, members: set[str]) -> Path:
    stage = Path(tempfile.mkdtemp(prefix=f"{folder.name}.tmp-", dir=folder.parent))
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.name in members:
                continue
            if entry.is_file() and not entry.is_symlink():
                os.link(entry, stage / entry.name)
            elif entry.is_symlink():
                os.symlink(os.readlink(entry), stage / entry.name)
            else:
                shutil.copytree(entry, stage / entry.name, symlinks=True, copy_function=os.link)
    return stage


def _sync_tree(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if not p.is_symlink():
                fsync_path(p)
        fsync_path(Path(dirpath))


def _swap(stage: Path, folder: Path) -> None:
    if not folder.exists():
        os.rename(stage, folder)
        return
    if exchange(stage, folder):
        shutil.rmtree(stage, ignore_errors=True)  # now the old version
        return
    old = Path(tempfile.mkdtemp(prefix=f"{folder.name}.old-", dir=folder.parent))
    os.rmdir(old)
    os.rename(folder, old)
    os.rename(stage, folder)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def publish(folder: str | Path, members: Iterable[str]) -> Iterator[Path]:
    """Stage the set ``members`` (file names) of ``folder`` and publish it at once on success."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _lock(folder):
        recover(folder)
        stage = _stage(folder, set(members))
        try:
            yield stage
            _sync_tree(stage)
            _swap(stage, folder)
            fsync_path(folder.parent)
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
