"""Publishing a command's outputs as a set: all of the new files, or all of the old ones.

``with publish(folder, members) as stage:`` hands out a staging folder beside ``folder``
(``FOLDER.tmp-XXXX``) holding hard links of every file of ``folder`` that is not a member of the set.
The command writes its new members into ``stage``. On a clean exit every file is fsynced and the
staging folder takes the place of ``folder`` in one step (``renameat2(RENAME_EXCHANGE)`` where the
file system has it, else two renames that :func:`recover` completes after a crash). On any error
(a full disk, an interruption) the staging folder is removed and ``folder`` is as it was: members of
the old set that the new one lacks disappear only together with the new set's arrival.

The new folder keeps the old one's mode (setgid bit included), group and owner (refused with one line
where the owner cannot be kept). A file another program writes into the folder while the set is staged
is carried into the new folder, never deleted: only members of the set are replaced. A complete stage is
renamed ``FOLDER.ready-XXXX`` before the swap, so :func:`recover` restores the newest complete version.

Concurrent publishers of one folder are serialised by an advisory lock (``.FOLDER.lock`` beside it,
opened without following links).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import stat
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
    """Finish a swap that a crash cut short: the folder missing, a complete stage (``ready-``) or its
    previous version (``old-``) beside it; the newest complete stage wins, else the newest old version."""
    folder = Path(folder)
    if folder.exists():
        return

    def newest(kind: str) -> Path | None:
        found = [p for p in folder.parent.glob(f"{folder.name}.{kind}-*") if p.is_dir() and not p.is_symlink()]
        return max(found, key=lambda p: p.stat().st_mtime_ns, default=None)

    best = newest("ready") or newest("old")
    if best is not None:
        os.rename(best, folder)


@contextlib.contextmanager
def _lock(folder: Path) -> Iterator[None]:
    lock = folder.parent / f".{folder.name}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfigError(f"{lock} is a symbolic link: remove it (hwnas never follows one)") from None
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _keep_attributes(folder: Path, stage: Path) -> None:
    """``stage`` gets ``folder``'s mode (setgid included), group and owner; a new folder the umask's mode."""
    if not folder.is_dir():
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)
        return
    st = folder.stat()
    if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
        try:
            os.chown(stage, st.st_uid, st.st_gid)
        except PermissionError:
            try:
                os.chown(stage, -1, st.st_gid)
            except PermissionError:
                pass
            if stage.stat().st_uid != st.st_uid or stage.stat().st_gid != st.st_gid:
                raise ConfigError(
                    f"{folder} belongs to another user or group than this process can give a new folder: "
                    "publish as its owner, or into a folder of your own"
                ) from None
    os.chmod(stage, stat.S_IMODE(st.st_mode))


def _stage(folder: Path, members: set[str]) -> Path:
    stage = Path(tempfile.mkdtemp(prefix=f"{folder.name}.tmp-", dir=folder.parent))
    _keep_attributes(folder, stage)
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


def _carry_over(old: Path, new: Path, members: set[str]) -> None:
    """Move into ``new`` what was written into ``old`` after staging (another program's files), so the
    removal of ``old`` deletes only files of this set or ones ``new`` holds too (as hard links)."""
    for entry in old.iterdir():
        if entry.name in members:
            continue
        target = new / entry.name
        if not target.exists() and not target.is_symlink():
            os.rename(entry, target)
        elif entry.is_dir() and not entry.is_symlink() and target.is_dir() and not target.is_symlink():
            _carry_over(entry, target, set())
        elif not entry.is_dir() and not os.path.samestat(entry.lstat(), target.lstat()):
            os.rename(entry, target)  # replaced after staging: the newer file wins


def _swap(stage: Path, folder: Path, members: set[str]) -> None:
    ready = folder.parent / stage.name.replace(".tmp-", ".ready-", 1)
    os.rename(stage, ready)  # complete: recover() prefers it to the old version
    if not folder.exists():
        os.rename(ready, folder)
        return
    if exchange(ready, folder):
        old = ready  # now the old version
    else:
        old = Path(tempfile.mkdtemp(prefix=f"{folder.name}.old-", dir=folder.parent))
        os.rmdir(old)
        os.rename(folder, old)
        os.rename(ready, folder)
    _carry_over(old, folder, members)
    shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(folder: Path) -> None:
    """Stages of publishers that died (the lock is ours: nobody else is staging)."""
    for kind in ("tmp", "ready", "old"):
        for p in folder.parent.glob(f"{folder.name}.{kind}-*"):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def publish(folder: str | Path, members: Iterable[str]) -> Iterator[Path]:
    """Stage the set ``members`` (file names) of ``folder`` and publish it at once on success."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    members = set(members)
    with _lock(folder):
        recover(folder)
        _remove_leftovers(folder)
        stage = _stage(folder, members)
        try:
            yield stage
            _sync_tree(stage)
            _swap(stage, folder, members)
            fsync_path(folder.parent)
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)
