"""A fleet of measurers sharing a queue of batches (a local run is a fleet of one).

Each measurer has one worker that takes the next batch, has it measured and hands the outcome to the
calling thread, which commits it at once; throughput adds up. A measurer that goes away mid-batch
(:class:`~hwnas.profiling.measurer.MeasurerLost`) loses only that batch: it is put back for the others,
and when none is left the run stops with one line (every committed record is kept; a rerun measures only
what is missing). A refusal or a bug stops the fleet: the batches in flight are still committed, then the
error is raised. A fleet of one runs in the calling thread, so Ctrl-C stops it at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.profiling.measurer import Measurer, MeasurerLost
from hwnas.profiling.record import host_id_of

R = TypeVar("R")


@dataclass
class Job:
    """One batch of subnets; ``index`` numbers the batches of a run (each gets its own measuring seed)."""

    index: int
    configs: list[SubnetConfig]


class _Queue:
    """The batches the workers share: a lost batch goes back; a worker stops when nothing can come back."""

    def __init__(self, jobs: list[Job]) -> None:
        self.todo, self.in_flight, self.cond, self.stop = list(jobs), 0, threading.Condition(), False

    def take(self) -> Job | None:
        with self.cond:
            while not self.todo and self.in_flight and not self.stop:
                self.cond.wait(1.0)
            if self.stop or not self.todo:
                return None
            self.in_flight += 1
            return self.todo.pop(0)

    def done(self, job: Job, lost: bool) -> None:
        with self.cond:
            self.in_flight -= 1
            if lost:
                self.todo.insert(0, job)
            self.cond.notify_all()

    def halt(self) -> None:
        with self.cond:
            self.stop = True
            self.cond.notify_all()


class Fleet(Generic[R]):
    """``Fleet(measurers, log).run(jobs, work, commit)``: ``work(measurer, job)`` runs on the measurer's
    worker, ``commit(outcome)`` on the calling thread as each batch comes back."""

    def __init__(self, measurers: Sequence[Measurer], log: Callable[[str], None] = print) -> None:
        if not measurers:
            raise ConfigError("a fleet needs at least one measurer")
        self.measurers, self.log = list(measurers), log

    def run(self, jobs: list[Job], work: Callable[[Measurer, Job], R], commit: Callable[[R], None]) -> None:
        q = _Queue(jobs)
        events: queue.Queue[tuple[str, Measurer, Any]] = queue.Queue()
        fatal: list[BaseException] = []

        def handle(kind: str, m: Measurer, payload: Any) -> None:
            if kind == "done":
                commit(payload)
            elif kind == "lost":
                why, job = payload
                self.measurers = [x for x in self.measurers if x is not m]
                keys = ", ".join(c.key() for c in job.configs)
                others = ", ".join(x.where for x in self.measurers)
                where = f"moved to {others}" if others else "no measurer left to measure them"
                self.log(f"{why}; lost {len(job.configs)} subnet(s) of the batch in progress: {keys} -> {where}")
            else:
                fatal.append(payload)

        if len(self.measurers) == 1:
            self._worker(self.measurers[0], q, work, handle)
        else:
            with ThreadPoolExecutor(len(self.measurers), thread_name_prefix="hwnas-measurer") as pool:
                futures = [pool.submit(self._worker, m, q, work, lambda *e: events.put(e)) for m in self.measurers]
                try:
                    while not all(f.done() for f in futures) or not events.empty():
                        try:
                            handle(*events.get(timeout=0.5))
                        except queue.Empty:
                            continue
                except BaseException:  # Ctrl-C, or a commit that failed: the workers stop after their batch
                    q.halt()
                    raise
        if fatal:
            raise fatal[0]
        left = sum(len(j.configs) for j in q.todo)
        if left:
            raise MeasurerLost(
                f"no measurer left: {left} subnet(s) not measured; what was committed is kept, "
                "rerun to measure the rest"
            )

    @staticmethod
    def _worker(
        m: Measurer, q: _Queue, work: Callable[[Measurer, Job], R], emit: Callable[[str, Measurer, Any], None]
    ) -> None:
        while (job := q.take()) is not None:
            lost = True
            try:
                outcome = work(m, job)
                lost = False
            except MeasurerLost as e:
                emit("lost", m, (str(e), job))
                return
            except Exception as e:  # a refusal, or a bug: stop the fleet, never hang it
                q.halt()
                emit("fatal", m, e)
                return
            finally:
                q.done(job, lost)
            emit("done", m, outcome)


def fleet_host(infos: dict[str, dict[str, Any]], remeasure: bool) -> str | None:
    """The one host id the measurers share (``infos``: each one's :meth:`Measurer.check`); None (any host)
    when they differ and nothing is re-measured. A subnet's visits must all come from one host, so
    re-measuring on a mixed fleet is refused."""
    hosts = {where: host_id_of(info.get("fingerprint") or {}) for where, info in infos.items()}
    if len(set(hosts.values())) == 1:
        return next(iter(hosts.values()))
    if remeasure:
        cpus = ", ".join(f"{where}: {(infos[where].get('fingerprint') or {}).get('cpu', '?')}" for where in hosts)
        raise ConfigError(
            f"the measurers are different hosts ({cpus}); a subnet's visits must come from one host: "
            "profile each host in a run of its own, or measure once with --visits 1 --no-retest"
        )
    return None
