"""Profiling through measuring agents: export here, measure there, commit here as each batch arrives.

With several agents (a fleet of identical devices) each has one worker thread that takes the next batch
from a shared queue, exports it (exports are serialised: torch runs here), sends it and hands the records
to the calling thread, which commits them at once. Each subnet is measured once; throughput adds up.
An agent that goes away mid-batch loses only that batch: its subnets are reported and put back on the
queue for the other agents; when none is left the run stops with a one-line error (every committed
record is kept, and a rerun measures only what is missing).

``use_agents(device, clients)`` routes :func:`hwnas.pipelines.profile.measure_subnet` (the search's
re-measurement) for one device to agents, as ``--devices`` routes device names to a file.
"""

from __future__ import annotations

import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hwnas.agent.client import AgentBusy, AgentClient, AgentError, AgentRefused, AgentUnreachable, BatchAnswer
from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.devices import Device
from hwnas.pipelines.profile import REF, Exporter, ProfileSummary, Progress, _fill
from hwnas.profiling.record import LatencyRecord, new_visit
from hwnas.profiling.store import LatencyStore

BUSY_WAIT_S = 600.0  # how long a worker waits for an agent busy with another client's batch
_ROUTES: dict[str, list[AgentClient]] = {}


def use_agents(device_name: str, clients: list[AgentClient] | None) -> None:
    """Measure ``device_name`` on ``clients`` from now on (None: locally again)."""
    if clients:
        _ROUTES[device_name] = list(clients)
    else:
        _ROUTES.pop(device_name, None)


def agents_for(device_name: str) -> list[AgentClient]:
    return list(_ROUTES.get(device_name, []))


@dataclass
class _Job:
    index: int
    configs: list[SubnetConfig]


class _Batches:
    """The queue the workers share: a lost batch goes back; a worker stops when nothing can come back."""

    def __init__(self, jobs: list[_Job]) -> None:
        self.todo, self.in_flight, self.cond, self.stop = list(jobs), 0, threading.Condition(), False

    def take(self) -> _Job | None:
        with self.cond:
            while not self.todo and self.in_flight and not self.stop:
                self.cond.wait(1.0)
            if self.stop or not self.todo:
                return None
            self.in_flight += 1
            return self.todo.pop(0)

    def done(self, job: _Job, lost: bool) -> None:
        with self.cond:
            self.in_flight -= 1
            if lost:
                self.todo.insert(0, job)
            self.cond.notify_all()


def export_batch(
    exporter: Exporter,
    device: Device,
    space: SearchSpace,
    cfgs: list[SubnetConfig],
    workdir: Path,
    with_reference: bool = True,
) -> tuple[dict[str, Path], dict[str, str]]:
    """ONNX files of ``cfgs`` (+ the reference) by key, and the keys that failed to export with why."""
    paths, failed = {}, {}
    todo = [(c.key(), c) for c in cfgs] + ([(REF, space.min_config())] if with_reference else [])
    for i, (key, cfg) in enumerate(todo):
        try:
            paths[key] = exporter.export(
                cfg, workdir / f"{i}.onnx", fp16=device.precision == "fp16", batch_size=device.batch_size
            )
        except Exception as e:
            failed[key] = f"export failed: {type(e).__name__}: {e}"
    return paths, failed


def records_of(
    answer: BatchAnswer,
    keys: list[str],
    cfgs: list[SubnetConfig],
    failed: dict[str, str],
    device: Device,
    space: SearchSpace,
    exporter: Exporter,
    agent_url: str,
) -> list[LatencyRecord]:
    """LatencyRecords from an agent's answer (``keys``: the uploaded order), tagged with its host."""
    got = dict(zip(keys, answer.results))
    ref = got.get(REF)
    fp = answer.fingerprint
    visit = new_visit()  # one batch on one agent
    out = []
    for c in cfgs:
        rec = LatencyRecord.for_config(
            c,
            device,
            space.name,
            space.digest(),
            opset=exporter.opset,
            exporter_version=exporter.version,
            host=fp.get("cpu", ""),
            fingerprint=fp,
            visit=visit,
            agent=f"{answer.name} {agent_url}",
        )
        res = got.get(c.key())
        if res is None:
            rec.fail(failed.get(c.key(), "not measured"))
        else:
            rec.runtime_version, rec.load_avg = (
                res.runtime_version,
                answer.load_avg if answer.load_avg >= 0 else rec.load_avg,
            )
            if res.measurement is None:
                rec.fail(res.reason)
            else:
                _fill(
                    rec,
                    res.measurement,
                    res.setup_s,
                    ref.measurement if ref is not None else None,
                ).take_figures(res.measurement.figures)
        out.append(rec)
    return out


def send(
    client: AgentClient, device: Device, paths: dict[str, Path], seed: int, busy_wait_s: float = BUSY_WAIT_S
) -> BatchAnswer:
    """``client.measure`` that waits (bounded) while the agent is busy with another client."""
    deadline = time.monotonic() + busy_wait_s
    while True:
        try:
            return client.measure(device, list(paths.values()), seed=seed)
        except AgentBusy:
            if time.monotonic() > deadline:
                raise AgentUnreachable(f"agent {client.url}: busy with another client for {busy_wait_s:g} s") from None
            time.sleep(2.0)


def profile_remote(
    configs: list[SubnetConfig],
    space: SearchSpace,
    device: Device,
    store: LatencyStore,
    clients: list[AgentClient],
    *,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    batch: int = 8,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
) -> ProfileSummary:
    """Profile ``configs`` not yet in ``store`` on the agents; every record committed as it arrives."""
    infos = _reachable(clients, device, log)
    digest = space.digest()
    stored = store.keys(device.name, digest)
    todo = [c for c in configs if c.key() not in stored]
    s = ProfileSummary(device.name, space.name, len(configs), len(configs) - len(todo))
    start = time.perf_counter()
    if not todo:
        return s
    exporter = Exporter(space, checkpoint, seed)
    batches = _Batches([_Job(i, todo[b : b + batch]) for i, b in enumerate(range(0, len(todo), batch))])
    events: queue.Queue = queue.Queue()
    export_lock = threading.Lock()

    def work(client: AgentClient) -> None:
        while (job := batches.take()) is not None:
            lost = True
            try:
                with tempfile.TemporaryDirectory(prefix="hwnas-remote-") as tmp:
                    t0 = time.perf_counter()
                    with export_lock:
                        paths, failed = export_batch(exporter, device, space, job.configs, Path(tmp))
                    s.seconds["export"] += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    answer = send(client, device, paths, seed + job.index)
                    s.seconds["measure"] += time.perf_counter() - t0
                lost = False
                events.put(
                    (
                        "records",
                        client,
                        records_of(answer, list(paths), job.configs, failed, device, space, exporter, client.url),
                    )
                )
            except AgentRefused as e:
                batches.stop = True
                events.put(("fatal", client, str(e)))
            except AgentError as e:
                events.put(("lost", client, (str(e), [c.key() for c in job.configs])))
                return
            except Exception as e:  # a bug here must not hang the run
                batches.stop = True
                events.put(("fatal", client, f"{type(e).__name__}: {e}"))
            finally:
                batches.done(job, lost)
            if batches.stop or lost:
                return

    threads = {
        c.url: threading.Thread(target=work, args=(c,), daemon=True, name=f"agent {c.url}")
        for c in clients
        if c.url in infos
    }
    for t in threads.values():
        t.start()
    fatal = None
    try:
        while any(t.is_alive() for t in threads.values()) or not events.empty():
            try:
                kind, client, payload = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if kind == "records":
                for rec in payload:
                    if store.add(rec):
                        s.records.append(rec)
                        if progress:
                            progress(rec, len(s.records), len(todo))
            elif kind == "lost":
                why, keys = payload
                alive = [u for u, t in threads.items() if t.is_alive() and u != client.url]
                log(
                    f"{why}; lost {len(keys)} subnet(s) of the batch in progress: {', '.join(keys)} -> "
                    + (f"moved to {', '.join(alive)}" if alive else "no agent left to measure them")
                )
            else:
                fatal = fatal or payload
    except KeyboardInterrupt:
        batches.stop, s.interrupted = True, True
    finally:
        s.elapsed_s = time.perf_counter() - start
    if fatal:
        raise AgentRefused(fatal)
    left = sum(len(j.configs) for j in batches.todo)
    if left and not s.interrupted:
        raise AgentUnreachable(
            f"no agent left: {left} subnet(s) not measured, {len(s.records)} committed "
            "this run are kept; rerun to measure the rest"
        )
    return s


def _reachable(clients: list[AgentClient], device: Device, log: Callable[[str], None]) -> dict[str, dict]:
    """info() of every agent that answers and measures ``device`` as defined here; refusals are fatal."""
    infos, down = {}, []
    for c in clients:
        try:
            infos[c.url] = c.check(device)
        except AgentUnreachable as e:
            down.append(str(e))
    if not infos:
        raise AgentUnreachable(down[0] if len(down) == 1 else f"no agent reachable: {'; '.join(down)}")
    for why in down:
        log(f"{why}; going on without it")
    return infos


def measure_remote(
    device: Device,
    space: SearchSpace,
    cfg: SubnetConfig,
    clients: list[AgentClient],
    checkpoint: str | Path | None = None,
    seed: int = 0,
) -> LatencyRecord:
    """One subnet measured now on the first agent that answers (no store)."""
    exporter = Exporter(space, checkpoint, seed)
    errors = []
    with tempfile.TemporaryDirectory(prefix="hwnas-remote-") as tmp:
        paths, failed = export_batch(exporter, device, space, [cfg], Path(tmp), with_reference=False)
        if failed:
            return LatencyRecord.for_config(cfg, device, space.name, space.digest()).fail(failed[cfg.key()])
        for c in clients:
            try:
                c.check(device)
                answer = send(c, device, paths, seed)
            except AgentUnreachable as e:
                errors.append(str(e))
                continue
            return records_of(answer, list(paths), [cfg], failed, device, space, exporter, c.url)[0]
    raise AgentUnreachable(errors[0] if len(errors) == 1 else f"no agent reachable: {'; '.join(errors)}")


def profile_space_remote(
    space: SearchSpace,
    device: Device,
    n: int,
    store_path: str | Path,
    clients: list[AgentClient],
    *,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    batch: int = 8,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
) -> ProfileSummary:
    """:func:`hwnas.pipelines.profile.profile_space` with the measuring done by agents (resumes too)."""
    from hwnas.profiling import sampling

    configs = sampling.plan(space, n, seed)
    with LatencyStore(store_path) as store, store.profiling():  # one profiler per store
        return profile_remote(
            configs,
            space,
            device,
            store,
            clients,
            checkpoint=checkpoint,
            seed=seed,
            batch=batch,
            progress=progress,
            log=log,
        )
