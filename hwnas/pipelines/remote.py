"""Profiling through measuring agents: export here, measure there, commit here as each batch arrives.

With several agents (a fleet of identical devices) each has one worker thread that takes the next batch
from a shared queue, exports it (exports are serialised: torch runs here), sends it and hands the records
to the calling thread, which commits them at once; throughput adds up. A run takes the visits a local
one takes (:class:`hwnas.pipelines.visits.VisitPlan`: every subnet twice by default, each time in
another batch, a third where they disagree), and every batch carries the reference ladder, whose
figures are remembered here per agent host, so labels measured on agents get the same drift
correction. An agent that goes away mid-batch loses only that batch: its subnets are reported and put
back on the queue for the other agents; when none is left the run stops with a one-line error (every
committed record is kept, and a rerun measures only what is missing).

``use_agents(device, clients)`` routes :func:`hwnas.pipelines.profile.measure_visits` (the search's
re-measurement) for one device to agents, as ``--devices`` routes device names to a file.
"""

from __future__ import annotations

import math
import queue
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hwnas.agent import wire
from hwnas.agent.client import AgentBusy, AgentClient, AgentError, AgentRefused, AgentUnreachable, BatchAnswer
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.devices import Device
from hwnas.pipelines.profile import (
    REF,
    Exporter,
    ProfileSummary,
    Progress,
    _fill,
    _model_file,
    ladder_keys,
    ladder_memory,
)
from hwnas.pipelines.visits import VISITS, VisitPlan
from hwnas.profiling.host_memory import HostMemory
from hwnas.profiling.ladder import ladder
from hwnas.profiling.protocol import DEFAULT_BATCH
from hwnas.profiling.record import LatencyRecord, host_id_of, new_visit
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
    cache: Path | None = None,
) -> tuple[dict[str, Path], dict[str, str]]:
    """ONNX files of ``cfgs`` (+ the reference ladder's rungs) by key, and the keys that failed to
    export with why. With ``cache``, files are exported there once per run and reused (as locally)."""
    paths, failed = {}, {}
    rungs = list(zip(ladder_keys(space), ladder(space))) if with_reference else []
    for key, cfg in [(c.key(), c) for c in cfgs] + rungs:
        try:
            path = _model_file(key, cache, workdir, pinned=key.startswith(REF))
            if not path.is_file():
                path = exporter.export(cfg, path, fp16=device.precision == "fp16", batch_size=device.batch_size)
            paths[key] = path
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
    memories: HostMemories | None = None,
) -> list[LatencyRecord]:
    """LatencyRecords from an agent's answer (``keys``: the uploaded order), tagged with its host. The
    batch's ladder figures go to the record (``ref_ms``, ``refs_ms``) and into ``memories`` under the
    agent's host, whose quiet baseline the records carry (``base_ms``), as a local batch's do."""
    got = dict(zip(keys, answer.results))
    fp = answer.fingerprint
    rungs = [got.get(k) for k in ladder_keys(space)] if REF in got else []
    refs_ms = [float(r.measurement.latency_ms) if r and r.measurement else math.nan for r in rungs]
    base_ms = memories.remember(fp, refs_ms, answer.others_cores) if memories is not None and rungs else []
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
            rec.others_cores = answer.others_cores
            if res.measurement is None:
                rec.fail(res.reason)
            else:
                ref = rungs[0].measurement if rungs and rungs[0] is not None else None
                _fill(rec, res.measurement, res.setup_s, ref).take_figures(res.measurement.figures)
                rec.refs_ms, rec.base_ms = refs_ms, base_ms
        out.append(rec)
    return out


class HostMemories:
    """The remembered quiet ladder (:class:`~hwnas.profiling.host_memory.HostMemory`) of each agent
    host met in a run, kept on this machine under the agent's host id."""

    def __init__(self, device: Device, space: SearchSpace) -> None:
        self.device, self.space = device, space
        self._by_host: dict[str, HostMemory] = {}

    def remember(self, fp: dict[str, str], refs_ms: list[float], others_cores: float) -> list[float]:
        host = host_id_of(fp)
        if host not in self._by_host:
            self._by_host[host] = ladder_memory(self.device.name, host, self.space)
        return self._by_host[host].remember(refs_ms, others_cores)


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
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
    visits: int = VISITS,
    retest: int | None = 0,
) -> ProfileSummary:
    """Profile ``configs`` on the agents in the visits a local run takes (:class:`.visits.VisitPlan`:
    ``visits`` each, a third where two disagree or a label surprises; with one visit, a retested
    share; ``retest=None``: one visit each, nothing more), every record committed as it arrives."""
    if visits < 1:
        raise ConfigError(f"visits must be at least 1, got {visits}")
    if batch + len(ladder(space)) > wire.MAX_MODELS:
        raise ConfigError(f"batch {batch} + {len(ladder(space))} ladder rungs exceeds an agent's {wire.MAX_MODELS}")
    infos = _reachable(clients, device, log)
    host = fleet_host(infos, remeasure=retest is not None)
    plan = VisitPlan(configs, space, store, device.name, host, visits=visits, retest=retest, seed=seed)
    todo = plan.new()
    s = ProfileSummary(device.name, space.name, len(configs), len(configs) - len(todo))
    total = plan.expected_total()
    start = time.perf_counter()
    fleet: _Fleet | None = None
    try:
        for phase in plan.phases():
            cfgs = plan.subnets(phase)
            if not cfgs:
                continue
            fleet = fleet or _Fleet(space, device, store, [c for c in clients if c.url in infos], checkpoint, seed, log)
            fleet.run(cfgs, batch, s, progress, total, retests=phase != "new")
            if s.interrupted:
                break
    finally:
        s.elapsed_s = time.perf_counter() - start
        if fleet is not None:
            fleet.close()
    return s


def fleet_host(infos: dict[str, dict], remeasure: bool) -> str | None:
    """The one host id the agents share; None (any host) when they differ and nothing is re-measured.
    A subnet's visits must all come from one host, so re-measuring on a mixed fleet is refused."""
    hosts = {url: host_id_of(info.get("fingerprint") or {}) for url, info in infos.items()}
    if len(set(hosts.values())) == 1:
        return next(iter(hosts.values()))
    if remeasure:
        cpus = ", ".join(f"{url}: {(infos[url].get('fingerprint') or {}).get('cpu', '?')}" for url in hosts)
        raise ConfigError(
            f"the agents are different hosts ({cpus}); a subnet's visits must come from one host: "
            "profile each host in a run of its own, or measure once with --visits 1 --no-retest"
        )
    return None


class _Fleet:
    """The agents of one run, a shared queue of batches per phase, and the run's exported models."""

    def __init__(
        self,
        space: SearchSpace,
        device: Device,
        store: LatencyStore,
        clients: list[AgentClient],
        checkpoint: str | Path | None,
        seed: int,
        log: Callable[[str], None],
    ) -> None:
        self.space, self.device, self.store, self.clients = space, device, store, clients
        self.seed, self.log = seed, log
        self.exporter = Exporter(space, checkpoint, seed)
        self.models = tempfile.TemporaryDirectory(prefix="hwnas-models-")  # ladder and subnets, exported once
        self.memories = HostMemories(device, space)
        self.export_lock = threading.Lock()
        self.sent = 0  # batches handed out so far (each gets its own measuring seed)

    def close(self) -> None:
        self.models.cleanup()

    def run(
        self,
        cfgs: list[SubnetConfig],
        batch: int,
        s: ProfileSummary,
        progress: Progress | None,
        total: int,
        retests: bool,
    ) -> None:
        """Measure ``cfgs`` once each, ``batch`` at a time, on every live agent; commit as answers come."""
        jobs = [_Job(self.sent + i, cfgs[b : b + batch]) for i, b in enumerate(range(0, len(cfgs), batch))]
        self.sent += len(jobs)
        batches = _Batches(jobs)
        events: queue.Queue = queue.Queue()

        def work(client: AgentClient) -> None:
            while (job := batches.take()) is not None:
                lost = True
                try:
                    with tempfile.TemporaryDirectory(prefix="hwnas-remote-") as tmp:
                        t0 = time.perf_counter()
                        with self.export_lock:
                            paths, failed = export_batch(
                                self.exporter,
                                self.device,
                                self.space,
                                job.configs,
                                Path(tmp),
                                cache=Path(self.models.name),
                            )
                        s.seconds["export"] += time.perf_counter() - t0
                        t0 = time.perf_counter()
                        answer = send(client, self.device, paths, self.seed + job.index)
                        s.seconds["measure"] += time.perf_counter() - t0
                    lost = False
                    recs = records_of(
                        answer,
                        list(paths),
                        job.configs,
                        failed,
                        self.device,
                        self.space,
                        self.exporter,
                        client.url,
                        self.memories,
                    )
                    events.put(("records", client, recs))
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
            c.url: threading.Thread(target=work, args=(c,), daemon=True, name=f"agent {c.url}") for c in self.clients
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
                        if self.store.add(rec):
                            s.records.append(rec)
                            s.retested += retests
                            if progress:
                                progress(rec, len(s.records), max(total, len(s.records)))
                elif kind == "lost":
                    why, keys = payload
                    self.clients = [c for c in self.clients if c.url != client.url]
                    alive = [u for u, t in threads.items() if t.is_alive() and u != client.url]
                    self.log(
                        f"{why}; lost {len(keys)} subnet(s) of the batch in progress: {', '.join(keys)} -> "
                        + (f"moved to {', '.join(alive)}" if alive else "no agent left to measure them")
                    )
                else:
                    fatal = fatal or payload
        except KeyboardInterrupt:
            batches.stop, s.interrupted = True, True
        if fatal:
            raise AgentRefused(fatal)
        left = sum(len(j.configs) for j in batches.todo)
        if left and not s.interrupted:
            raise AgentUnreachable(
                f"no agent left: {left} subnet(s) not measured, {len(s.records)} committed "
                "this run are kept; rerun to measure the rest"
            )


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
    with_ladder: bool = True,
    visits: int = 1,
) -> list[LatencyRecord]:
    """One subnet measured now in ``visits`` batches on the first agent that answers (no store).
    ``with_ladder``: beside the reference ladder, so that each record carries what
    :func:`hwnas.pipelines.labels.at_typical_speed` needs (as
    :func:`hwnas.pipelines.profile.measure_visits` does locally)."""
    exporter = Exporter(space, checkpoint, seed)
    errors = []
    with tempfile.TemporaryDirectory(prefix="hwnas-remote-") as tmp:
        paths, failed = export_batch(exporter, device, space, [cfg], Path(tmp), with_reference=with_ladder)
        if cfg.key() in failed:
            return [LatencyRecord.for_config(cfg, device, space.name, space.digest()).fail(failed[cfg.key()])] * visits
        for c in clients:
            try:
                c.check(device)
                answers = [send(c, device, paths, seed + v) for v in range(visits)]  # each its own round order
            except AgentUnreachable as e:
                errors.append(str(e))
                continue
            memories = HostMemories(device, space) if with_ladder else None
            return [
                records_of(answer, list(paths), [cfg], failed, device, space, exporter, c.url, memories)[0]
                for answer in answers
            ]
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
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
    visits: int = VISITS,
    retest: int | None = 0,
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
            visits=visits,
            retest=retest,
        )
