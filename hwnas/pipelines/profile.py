"""Profiling wiring: sample -> export (one cache per run) -> measure on a fleet of measurers -> store.

``profile_space(space, device, n, store_path, measurers=None, ...)`` profiles the first ``n`` subnets of the
seeded plan (:func:`hwnas.profiling.sampling.plan`) that the store does not hold yet on the fleet's host, a
batch at a time, committing each record as soon as it comes back. Then it **visits every subnet again** in
later batches (:class:`hwnas.profiling.visits.VisitPlan`: ``visits``, default 3; a label is their median;
more where visits disagree or a label surprises). ``measurers``: where batches are measured
(:mod:`hwnas.profiling.measurer`; None is this machine, a fleet of one; agents are
:class:`hwnas.agent.measurer.AgentMeasurer`). A subnet's file is exported once per run and reused by its
later visits. Killed and started again, it measures only what is missing. ``measure_visits`` measures one
subnet now, without a store. A subnet that fails to export or to run becomes a ``failed`` record with the
reason; the run goes on.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.devices import Device
from hwnas.devices import get as get_device
from hwnas.pipelines.exporter import Exporter, export_batch
from hwnas.profiling import sampling
from hwnas.profiling.batch import HostMemories, records_of
from hwnas.profiling.fleet import Fleet, Job, fleet_host
from hwnas.profiling.ladder import ladder
from hwnas.profiling.measurer import LocalMeasurer, Measurer, MeasurerLost
from hwnas.profiling.protocol import DEFAULT_BATCH
from hwnas.profiling.record import LatencyRecord
from hwnas.profiling.store import LatencyStore
from hwnas.profiling.visits import VISITS, VisitPlan

Progress = Callable[[LatencyRecord, int, int], None]
MAX_MODELS = 64  # models in one batch (an agent takes at most this many: hwnas.agent.wire.MAX_MODELS)


@dataclass
class ProfileSummary:
    device: str
    space: str
    planned: int
    skipped: int  # already in the store
    retested: int = 0  # records of this run that re-measure a subnet measured before (in another batch)
    records: list[LatencyRecord] = field(default_factory=list)
    seconds: dict[str, float] = field(
        default_factory=lambda: {"export": 0.0, "quantize": 0.0, "setup": 0.0, "measure": 0.0}
    )
    elapsed_s: float = 0.0
    interrupted: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def ok(self) -> int:
        return sum(r.ok for r in self.records)

    @property
    def failed(self) -> int:
        return len(self.records) - self.ok

    def per_minute(self) -> float:
        """Subnets measured per minute, all of their visits in this run included."""
        return 60.0 * len({r.key for r in self.records}) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def add_seconds(self, kind: str, seconds: float) -> None:
        """Count time spent (from any of the fleet's threads)."""
        with self._lock:
            self.seconds[kind] = self.seconds.get(kind, 0.0) + seconds


class _Batches:
    """What every batch of one run shares: the exporter, the run's model cache, the host memories."""

    def __init__(
        self, space: SearchSpace, device: Device, checkpoint: str | Path | None, seed: int, with_ladder: bool
    ) -> None:
        self.space, self.device, self.seed, self.with_ladder = space, device, seed, with_ladder
        self.exporter = Exporter(space, checkpoint, seed)
        self.models = tempfile.TemporaryDirectory(prefix="hwnas-models-")  # the ladder and subnets, once each
        self.memories = HostMemories(device, space) if with_ladder else None
        self.export_lock = threading.Lock()  # torch runs here: one export at a time

    def close(self) -> None:
        self.models.cleanup()

    def measure(self, m: Measurer, job: Job, s: ProfileSummary) -> list[LatencyRecord]:
        """Export ``job``'s subnets (and the ladder), have ``m`` measure them together, make the records."""
        with tempfile.TemporaryDirectory(prefix="hwnas-profile-") as tmp:
            t0 = time.perf_counter()
            with self.export_lock:
                files = export_batch(
                    self.exporter,
                    self.device,
                    self.space,
                    job.configs,
                    Path(tmp),
                    self.with_ladder,
                    Path(self.models.name),
                )
            s.add_seconds("export", time.perf_counter() - t0 - sum(files.quantize_s.values()))
            s.add_seconds("quantize", sum(files.quantize_s.values()))
            keys = list(files.paths)
            t0 = time.perf_counter()
            result = m.measure(
                self.device, list(files.paths.values()), self.seed + job.index, [keys.index(k) for k in files.rungs]
            )
            wall = time.perf_counter() - t0
        setup = min(result.seconds.get("setup", 0.0), wall)
        s.add_seconds("setup", setup)
        s.add_seconds("measure", wall - setup)
        exported_with = (self.exporter.opset, self.exporter.version)
        return records_of(
            result,
            keys,
            job.configs,
            files.failed,
            self.device,
            self.space,
            exported_with,
            self.memories,
            files.quantize_s,
        )


def _check(measurers: Sequence[Measurer], device: Device, log: Callable[[str], None]) -> dict[str, dict]:
    """Each measurer's info, for those that answer; refusals are raised, and none answering is too."""
    infos, down = {}, []
    for m in measurers:
        try:
            infos[m.where] = m.check(device)
        except MeasurerLost as e:
            down.append(str(e))
    if not infos:
        raise MeasurerLost(down[0] if len(down) == 1 else f"no measurer reachable: {'; '.join(down)}")
    for why in down:
        log(f"{why}; going on without it")
    return infos


def profile_configs(
    configs: list[SubnetConfig],
    space: SearchSpace,
    device_name: str | Device,
    store: LatencyStore,
    *,
    measurers: Sequence[Measurer] | None = None,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    summary: ProfileSummary | None = None,
    retest: int | None = 0,
    visits: int = VISITS,
    log: Callable[[str], None] = print,
) -> ProfileSummary:
    """Profile ``configs`` not yet measured on the fleet's host, ``batch`` at a time, then visit each again
    in later batches until it has ``visits`` (more for those whose visits disagree or whose label
    surprises). With ``visits=1``: re-measure :func:`.visits.retest_target` of them (``retest`` more than the
    default). ``retest=None``: one visit each, nothing more. Every record is committed at once."""
    device = get_device(device_name)
    fleet = list(measurers) if measurers else [LocalMeasurer()]
    if visits < 1:
        raise ConfigError(f"visits must be at least 1, got {visits}")
    if seed < 0:
        raise ConfigError(f"seed must be 0 or more, got {seed}")
    if batch < 1 or batch + len(ladder(space)) > MAX_MODELS:
        raise ConfigError(
            f"batch must be 1 to {MAX_MODELS - len(ladder(space))} (with the ladder's rungs), got {batch}"
        )
    infos = _check(fleet, device, log)  # before the store is touched: an unusable device is one line
    host = fleet_host(infos, remeasure=retest is not None)
    live = [m for m in fleet if m.where in infos]
    with store.profiling():  # one profiler per store: never measure under another's load
        plan = VisitPlan(configs, space, store, device.name, host, visits=visits, retest=retest, seed=seed)
        todo = plan.new()
        s = summary or ProfileSummary(device.name, space.name, len(configs), len(configs) - len(todo))
        total = plan.expected_total()  # the later visits are planned now; which retests, once the first exist
        start = time.perf_counter()
        batches: _Batches | None = None
        sent = 0  # batches handed out so far (each gets its own measuring seed)
        try:
            for phase in plan.phases():
                cfgs = plan.subnets(phase)
                if not cfgs:
                    continue
                batches = batches or _Batches(space, device, checkpoint, seed, with_ladder=True)
                jobs = [Job(sent + i, cfgs[b : b + batch]) for i, b in enumerate(range(0, len(cfgs), batch))]
                sent += len(jobs)

                def commit(recs: list[LatencyRecord], retests: bool = phase != "new") -> None:
                    for rec in recs:
                        if store.add(rec):
                            s.records.append(rec)
                            s.retested += retests
                            if progress:
                                progress(rec, len(s.records), max(total, len(s.records)))

                runner: Fleet[list[LatencyRecord]] = Fleet(live, log)
                runner.run(jobs, partial(batches.measure, s=s), commit)
                live = runner.measurers
        except KeyboardInterrupt:
            s.interrupted = True
        finally:
            if batches is not None:
                batches.close()
            s.elapsed_s = time.perf_counter() - start
    return s


def profile_space(
    space: SearchSpace,
    device_name: str | Device,
    n: int,
    store_path: str | Path,
    *,
    measurers: Sequence[Measurer] | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    retest: int | None = 0,
    visits: int = VISITS,
    log: Callable[[str], None] = print,
) -> ProfileSummary:
    """Profile the first ``n`` subnets of the seeded plan into the store at ``store_path`` (resumes), in
    ``visits`` visits each (see :func:`profile_configs`; ``retest``: with one visit, re-measure
    :func:`.visits.retest_target` of them plus ``retest``; None: one visit each, nothing more)."""
    device = get_device(device_name)
    if not measurers:
        LocalMeasurer().check(device)  # before the store is created: an unusable device leaves nothing behind
    configs = sampling.plan(space, n, seed)  # and so does a bad seed
    with LatencyStore(store_path) as store:
        return profile_configs(
            configs,
            space,
            device,
            store,
            measurers=measurers,
            checkpoint=checkpoint,
            seed=seed,
            batch=batch,
            progress=progress,
            retest=retest,
            visits=visits,
            log=log,
        )


def measure_visits(
    device_name: str | Device,
    space: SearchSpace,
    cfg: SubnetConfig,
    visits: int,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    with_ladder: bool = True,
    measurers: Sequence[Measurer] | None = None,
) -> list[LatencyRecord]:
    """One subnet measured now in ``visits`` batches one after the other (no store), each with fresh
    sessions and, ``with_ladder``, beside the reference ladder, so each record carries what
    :func:`hwnas.profiling.labels.at_typical_speed` needs; the models are exported once. On the first of
    ``measurers`` that answers (None: this machine). A failure comes back as failed records."""
    device = get_device(device_name)
    s = ProfileSummary(device.name, space.name, 1, 0)
    batches: _Batches | None = None
    errors = []
    try:
        for m in measurers or [LocalMeasurer()]:
            try:
                m.check(device)
                batches = batches or _Batches(space, device, checkpoint, seed, with_ladder)
                return [batches.measure(m, Job(v, [cfg]), s)[0] for v in range(visits)]  # each its own round order
            except MeasurerLost as e:
                errors.append(str(e))
    finally:
        if batches is not None:
            batches.close()
    raise MeasurerLost(errors[0] if len(errors) == 1 else f"no measurer reachable: {'; '.join(errors)}")


def measure_subnet(
    device_name: str | Device,
    space: SearchSpace,
    cfg: SubnetConfig,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    with_ladder: bool = True,
    measurers: Sequence[Measurer] | None = None,
) -> LatencyRecord:
    """:func:`measure_visits` in one batch."""
    return measure_visits(device_name, space, cfg, 1, checkpoint, seed, with_ladder, measurers)[0]
