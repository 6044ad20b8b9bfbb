"""Measuring a batch in a child process the agent can kill: ``python -m hwnas.agent.sandbox``.

The child limits itself before it reads a model: address space (CPU runtimes; GPU drivers reserve far
more address space than they use, so GPU devices rely on the up-front shape checks), CPU time (a soft
limit per model while it loads and runs once, the hard limit for the batch), no core files, a file size
cap, and a network namespace of its own where the kernel lets an unprivileged process have one. It dies
with the agent (``PR_SET_PDEATHSIG``). It says ``open I`` / ``ready I`` / ``measure`` on a private pipe,
then ``result {json}``; the agent keeps the wall-clock deadlines (per model, per batch) and kills it on
expiry. A model that breaks a limit while loading is answered ``failed`` with the reason and the rest of
the batch is measured in a fresh child; a batch that breaks one fails as a whole.
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import resource
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from hwnas.agent import wire

if TYPE_CHECKING:
    from hwnas.profiling.measurer import ModelResult

_CLONE_NEWUSER, _CLONE_NEWNET, _PR_SET_PDEATHSIG = 0x10000000, 0x40000000, 1
_MAX_STDOUT = 32 << 20  # a result larger than this is not a result
_STDERR_CAP = 16 << 20  # the child's file size limit (its stderr log)


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 4 << 30  # address space of the child (CPU runtimes); 0 = none
    model_cpu_s: float = 60.0  # CPU time to load one model and run it once
    model_wall_s: float = 60.0
    batch_cpu_s: float = 3600.0  # CPU time of the whole child
    batch_wall_s: float = 1800.0


class Measured(NamedTuple):
    results: list[dict[str, Any]]  # one per path, in order: {"status": "ok", ...} or {"status": "failed", ...}
    load_avg: float  # -1 where the system does not say
    others_cores: float  # cores other processes kept busy while measuring; -1 where unknown
    network_isolated: bool
    child_s: float = -1.0  # seconds the child spent opening and measuring the models (-1: it did not say)


def _failed(reason: str) -> dict[str, Any]:
    return {"status": "failed", "reason": wire.one_line(reason)}


def _uses_gpu(device: dict[str, Any]) -> bool:
    from hwnas.devices.device import Device
    from hwnas.profiling.backends import backend_for

    dev = Device(**device)
    return backend_for(dev).uses_gpu(dev)


# ----------------------------------------------------------------------------------------------- the child


def die_with_parent() -> None:
    """Linux: this process is killed when the process that started it dies (even by SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if hasattr(libc, "prctl"):
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _isolate(limits: dict[str, Any], gpu: bool) -> bool:
    """Limit this process before it touches a model; True when it got a network namespace of its own."""
    die_with_parent()
    libc = ctypes.CDLL(None, use_errno=True)
    isolated = hasattr(libc, "unshare") and libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (_STDERR_CAP, _STDERR_CAP))
    if limits["memory_bytes"] and not gpu:
        resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    hard = math.ceil(limits["batch_cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
    return isolated


def _cpu_soft(seconds: float | None, hard: int) -> None:
    """Soft CPU limit ``seconds`` from now (SIGXCPU past it), or the hard limit."""
    if seconds is None:
        soft = hard
    else:
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = min(hard, math.ceil(used.ru_utime + used.ru_stime + seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def child_main() -> None:
    job = json.loads(sys.stdin.read())
    talk = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to the log, not into the protocol
    limits = job["limits"]
    isolated = _isolate(limits, _uses_gpu(job["device"]))
    hard = math.ceil(limits["batch_cpu_s"])

    from hwnas.devices.device import Device
    from hwnas.profiling.measurer import measure_files

    t0 = time.perf_counter()
    watch = _Talk(talk, limits, hard)
    batch = measure_files(
        Device(**job["device"]), job["paths"], int(job["seed"]), job["references"], job["indices"], watch
    )
    answer = {
        "results": {str(i): _result_to_wire(r) for i, r in zip(job["indices"], batch.results)},
        "load_avg": batch.load_avg if math.isfinite(batch.load_avg) else -1.0,
        "others_cores": batch.others_cores if math.isfinite(batch.others_cores) else -1.0,
        "network_isolated": isolated,
        "child_s": time.perf_counter() - t0,
    }
    talk.write("result " + json.dumps(answer) + "\n")


class _Talk:
    """Tells the agent which model the child is loading (a death then names it), and sets the per-model
    CPU-time limit around each load and first run; the batch's limit for the measuring."""

    def __init__(self, talk: Any, limits: dict[str, Any], hard: int) -> None:
        self.talk, self.limits, self.hard = talk, limits, hard

    def opening(self, index: int) -> None:
        self.talk.write(f"open {index}\n")
        _cpu_soft(self.limits["model_cpu_s"], self.hard)

    def opened(self, index: int) -> None:
        self.talk.write(f"ready {index}\n")

    def measuring(self) -> None:
        _cpu_soft(None, self.hard)
        self.talk.write("measure\n")


def _result_to_wire(r: ModelResult) -> dict[str, Any]:
    if r.measurement is None:
        return _failed(r.reason)
    return {
        "status": "ok",
        "measurement": wire.measurement_to_wire(r.measurement),
        "setup_s": r.setup_s,
        "runtime_version": r.runtime_version,
    }


# ---------------------------------------------------------------------------------------------- the agent


class _Outcome(NamedTuple):
    answer: dict[str, Any] | None  # the child's result
    model: int | None  # the model that broke a limit while loading (the rest may be retried)
    reason: str


def _death(rc: int, limits: Limits, model: int | None) -> str:
    if rc == -signal.SIGXCPU:
        return (
            f"exceeded the CPU-time limit of {limits.model_cpu_s:g} s per model (loading and one run)"
            if model is not None
            else f"the batch exceeded its CPU-time limit of {limits.batch_cpu_s:g} s"
        )
    if rc == -signal.SIGKILL:
        return "the measuring process was killed (out of memory, or the CPU-time limit)"
    return f"the measuring process ended with status {rc}"


class Sandbox:
    """Runs batches in child processes; ``kill()`` (from any thread) ends the one running now."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopped = False

    def kill(self) -> None:
        self._stopped = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def run(
        self, device: Any, paths: list[Path], seed: int, references: list[int], progress: Callable[[str], None] = print
    ) -> Measured:
        """Measure ``paths`` (in one folder) in children; one result per path, in order."""
        results: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + self.limits.batch_wall_s
        extra: dict[str, Any] = {"load_avg": -1.0, "others_cores": -1.0, "network_isolated": False, "child_s": -1.0}
        out = _Outcome(None, None, "")
        for _ in range(len(paths) + 1):  # each retry drops at least one model
            todo = [i for i in range(len(paths)) if i not in results]
            if not todo or self._stopped:
                break
            out = self._attempt(device, paths, todo, seed, references, deadline)
            if out.answer is not None:
                results.update({int(k): v for k, v in out.answer["results"].items()})
                extra = {k: out.answer[k] for k in extra}
                break
            if out.model is None:
                break
            results[out.model] = _failed(out.reason)
            progress(f"model {out.model}: {out.reason}; measuring the rest in a new process")
        reason = out.reason if not self._stopped else "the agent is stopping"
        return Measured(
            [results.get(i) or _failed(reason or "not measured") for i in range(len(paths))],
            float(extra["load_avg"]),
            float(extra["others_cores"]),
            bool(extra["network_isolated"]),
            float(extra["child_s"]),
        )

    def _attempt(
        self, device: Any, paths: list[Path], todo: list[int], seed: int, refs: list[int], deadline: float
    ) -> _Outcome:
        job = {
            "device": wire.device_to_wire(device),
            "paths": [str(paths[i]) for i in todo],
            "indices": todo,
            "seed": seed,
            "references": refs,
            "limits": asdict(self.limits),
        }
        folder = paths[0].parent
        with open(folder / "stderr.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hwnas.agent.sandbox"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                cwd=folder,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                start_new_session=True,
            )
        self._proc = proc
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(job).encode())
            proc.stdin.close()
            return self._follow(proc, deadline, folder / "stderr.log")
        except BrokenPipeError:
            return _Outcome(None, None, _death(proc.wait(), self.limits, None))
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            self._proc = None

    def _follow(self, proc: subprocess.Popen[bytes], deadline: float, log: Path) -> _Outcome:
        assert proc.stdout is not None
        fd, buf, model, model_deadline = proc.stdout.fileno(), b"", None, math.inf
        while True:
            now = time.monotonic()
            if now >= min(deadline, model_deadline):
                proc.kill()
                if model is not None and model_deadline <= deadline:
                    why = f"took longer than the per-model limit of {self.limits.model_wall_s:g} s to load and run once"
                    return _Outcome(None, model, why)
                return _Outcome(
                    None, None, f"the batch exceeded its wall-clock limit of {self.limits.batch_wall_s:g} s"
                )
            ready, _, _ = select.select([fd], [], [], min(deadline, model_deadline) - now)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk or len(buf) > _MAX_STDOUT:
                rc = proc.wait()
                return _Outcome(None, model, _death(rc, self.limits, model) + _tail(log))
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                word, _, rest = line.decode(errors="replace").partition(" ")
                if word == "open":
                    model, model_deadline = int(rest), time.monotonic() + self.limits.model_wall_s
                elif word == "ready":
                    model, model_deadline = None, math.inf
                elif word == "result":
                    return _Outcome(json.loads(rest), None, "")


def _tail(log: Path) -> str:
    try:
        with open(log, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 400))
            text = wire.one_line(f.read().decode(errors="replace"), 200)
    except OSError:
        return ""
    return "" if text == "unknown error" else f": {text}"


if __name__ == "__main__":
    child_main()
