"""Profiling wiring: sample -> extract -> export ONNX (temp dir) -> measure (protocol) -> store.

``profile_space(space, device_name, n, store_path, seed=0, checkpoint=None, batch=16, progress=None)``
profiles the first ``n`` subnets of the seeded plan (:func:`hwnas.profiling.sampling.plan`) that the store
does not hold yet on this host, a batch at a time, committing each record as soon as it is final. Then
it **visits every subnet again** in later batches (``visits``, default 3: a slow episode that its batch's
reference ladder missed rarely catches most visits; a label is their median), and gives more visits,
up to five, while no visit confirms the median. With ``visits=2`` a third visit goes to the subnets whose
two visits disagree by more than :data:`.visits.DISAGREE` and to those whose label a model of the others
finds far off (:mod:`.surprise`). With ``visits=1`` it
re-measures only a share (:func:`.visits.retest_target`: 10 %, at least 8, plus ``retest`` more), so the store
still knows its own test-retest noise. A subnet's ONNX file is exported once per run and reused by its
later visits (up to :data:`CACHE_BYTES` of files). Killed and started again, it measures only what is
missing (first visits, then the later ones). ``measure_subnet`` measures one subnet now, without a
store (``measure_visits``: in several batches). A subnet that fails to export or to run becomes a
``failed`` record with the reason; the run goes on.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.devices import Device
from hwnas.devices import get as get_device
from hwnas.pipelines.visits import VISITS, VisitPlan
from hwnas.profiling import sampling
from hwnas.profiling.backends import fingerprint, open_runner, require_available
from hwnas.profiling.backends.base import Runner
from hwnas.profiling.host_memory import HostMemory, OthersMeter
from hwnas.profiling.ladder import ladder
from hwnas.profiling.protocol import DEFAULT_BATCH, Measurement, measure_batch
from hwnas.profiling.record import LatencyRecord, host_id_of, load_average, new_visit
from hwnas.profiling.store import LatencyStore

REF = "__reference__"  # the space's min subnet (rung 0 of the ladder), measured in every batch to expose drift
CACHE_BYTES = 2**30  # ONNX files kept for later visits in one run; beyond it, later visits export again

Progress = Callable[[LatencyRecord, int, int], None]


@dataclass
class ProfileSummary:
    device: str
    space: str
    planned: int
    skipped: int  # already in the store
    retested: int = 0  # records of this run that re-measure a subnet measured before (in another batch)
    records: list[LatencyRecord] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"export": 0.0, "setup": 0.0, "measure": 0.0})
    elapsed_s: float = 0.0
    interrupted: bool = False

    @property
    def ok(self) -> int:
        return sum(r.ok for r in self.records)

    @property
    def failed(self) -> int:
        return len(self.records) - self.ok

    def per_minute(self) -> float:
        """Subnets measured per minute, all of their visits in this run included."""
        return 60.0 * len({r.key for r in self.records}) / self.elapsed_s if self.elapsed_s > 0 else 0.0


class Exporter:
    """Extracts static subnets from one supernet (built once, not per subnet) and exports them to ONNX."""

    def __init__(self, space: SearchSpace, checkpoint: str | Path | None = None, seed: int = 0) -> None:
        import torch

        from hwnas.supernet.export import DEFAULT_OPSET
        from hwnas.supernet.resolve import supernet_for

        self.space, self.opset = space, DEFAULT_OPSET
        self.version = f"torch {torch.__version__}"
        self.net = supernet_for(space, checkpoint, seed)

    def export(self, cfg: SubnetConfig, path: Path, fp16: bool = False, batch_size: int = 1) -> Path:
        """Extract and export on one torch thread: tracing these small graphs is thread-pool overhead,
        not arithmetic, so more threads only slow it down, and the other cores stay free."""
        import torch

        from hwnas.supernet.export import export_onnx

        self.space.check_fits(cfg)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return export_onnx(self.net.extract(cfg).eval(), path, opset=self.opset, fp16=fp16, batch_size=batch_size)
        finally:
            torch.set_num_threads(threads)


def _fill(rec: LatencyRecord, m: Measurement, setup_s: float, ref: Measurement | str | None) -> LatencyRecord:
    rec.latency_ms, rec.median_ms, rec.block_ms = m.latency_ms, m.median_ms, m.block_ms
    rec.spread, rec.runs, rec.warmup_runs, rec.attempts = m.spread, m.runs, m.warmup_runs, m.attempts
    rec.setup_s = setup_s
    if REF in m.refs:  # the smallest rung of the same attempt
        rec.ref_ms = m.refs[REF]
    elif isinstance(ref, Measurement):
        rec.ref_ms = ref.latency_ms
    return rec


def _rung_key(j: int) -> str:
    return REF if j == 0 else f"{REF}{j}"


def ladder_keys(space: SearchSpace) -> list[str]:
    """The keys the reference ladder's rungs are measured under in a batch (rung 0 is :data:`REF`)."""
    return [_rung_key(j) for j in range(len(ladder(space)))]


def ladder_memory(device_name: str, host: str, space: SearchSpace) -> HostMemory:
    """The remembered quiet figures of ``space``'s reference ladder on ``host`` (host_memory.py)."""
    return HostMemory(device_name, host, space.digest(), [c.key() for c in ladder(space)])


def _model_file(key: str, cache: Path | None, workdir: Path, pinned: bool = False) -> Path:
    """Where a model is (or is to be) exported: the run's cache if it is there already, if the cache
    has room, or if ``pinned`` (the ladder); else the batch's own folder."""
    name = hashlib.sha1(key.encode()).hexdigest()[:20] + ".onnx"
    if cache is None:
        return workdir / name
    if pinned or (cache / name).is_file() or sum(f.stat().st_size for f in cache.iterdir()) < CACHE_BYTES:
        return cache / name
    return workdir / name


def _measure(
    device: Device,
    space: SearchSpace,
    exporter: Exporter,
    cfgs: list[SubnetConfig],
    workdir: Path,
    rng: np.random.Generator,
    seconds: dict[str, float],
    with_reference: bool = True,
    cache_dir: Path | None = None,
    memory: HostMemory | None = None,
) -> list[LatencyRecord]:
    """One batch: export and load each subnet (failures recorded), then measure them interleaved with
    the reference ladder (:mod:`hwnas.profiling.ladder`; exported once into ``cache_dir`` if given). The
    ladder's figures are added to the host's ``memory`` and each record gets its baseline. With
    ``cache_dir``, subnets are exported there too (once per run, while it holds under :data:`CACHE_BYTES`)."""
    fp16 = device.precision == "fp16"
    recs = {
        c.key(): LatencyRecord.for_config(
            c, device, space.name, space.digest(), opset=exporter.opset, exporter_version=exporter.version
        )
        for c in cfgs
    }
    todo = [(c.key(), c) for c in cfgs]
    visit = new_visit()
    for rec in recs.values():
        rec.visit = visit
    rungs = ladder_keys(space) if with_reference else []
    todo += list(zip(rungs, ladder(space)))
    runners: dict[str, Runner] = {}
    try:
        for key, cfg in todo:
            t0 = time.perf_counter()
            try:
                path = _model_file(key, cache_dir, workdir, pinned=key in rungs)
                if not path.is_file():
                    path = exporter.export(cfg, path, fp16=fp16, batch_size=device.batch_size)
            except Exception as e:
                if key in recs:
                    recs[key].fail(f"export failed: {type(e).__name__}: {e}")
                continue
            finally:
                seconds["export"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            try:
                runners[key] = open_runner(device, path)
                if key in recs:
                    recs[key].runtime_version = runners[key].runtime_version
            except Exception as e:
                if key in recs:
                    recs[key].fail(f"could not load the model: {type(e).__name__}: {e}")
            finally:
                seconds["setup"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        load = load_average()
        with OthersMeter() as others:
            results = measure_batch(runners, device, rng, references=rungs) if runners else {}
        seconds["measure"] += time.perf_counter() - t0
        ref = results.get(REF)
        refs_ms = [float(m.latency_ms) if isinstance(m := results.get(k), Measurement) else math.nan for k in rungs]
        base_ms: list[float] = []
        if memory is not None and rungs:
            base_ms = memory.remember(refs_ms, others.cores)
        for key, res in results.items():
            if key in rungs:
                continue
            recs[key].load_avg, recs[key].others_cores = load, others.cores
            if isinstance(res, str):
                recs[key].fail(res)
            else:
                rec = _fill(recs[key], res, runners[key].setup_s, ref)
                # the ladder of the attempt this record kept (the batch's first one unless it was re-measured)
                rec.refs_ms = [res.refs.get(k, math.nan) for k in rungs]
                rec.base_ms = base_ms
    finally:
        for r in runners.values():
            r.close()
    return [recs[c.key()] for c in cfgs]


def measure_subnet(
    device_name: str | Device,
    space: SearchSpace,
    cfg: SubnetConfig,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    with_ladder: bool = False,
) -> LatencyRecord:
    """Measure one subnet now with the protocol (no store). A failure comes back as a failed record.
    ``with_ladder``: measure the reference ladder beside it (a few seconds more), so the record carries
    the batch's ladder and the host's remembered quiet one (``refs_ms``, ``base_ms``) and its figure can
    be put at the host's typical speed (:func:`hwnas.pipelines.labels.at_typical_speed`)."""
    return measure_visits(device_name, space, cfg, 1, checkpoint, seed, with_ladder)[0]


def measure_visits(
    device_name: str | Device,
    space: SearchSpace,
    cfg: SubnetConfig,
    visits: int,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    with_ladder: bool = False,
) -> list[LatencyRecord]:
    """:func:`measure_subnet` in ``visits`` batches one after the other (each with fresh sessions and,
    ``with_ladder``, its own timing of the ladder); the models are exported once."""
    device = get_device(device_name)
    require_available(device)
    exporter = Exporter(space, checkpoint, seed)
    memory = None
    if with_ladder:
        memory = ladder_memory(device.name, host_id_of(fingerprint(device)), space)
    rng = np.random.default_rng(seed)
    seconds = {"export": 0.0, "setup": 0.0, "measure": 0.0}
    with tempfile.TemporaryDirectory(prefix="hwnas-measure-") as tmp:  # kept across the visits: one export each
        return [
            _measure(device, space, exporter, [cfg], Path(tmp), rng, seconds, with_ladder, memory=memory)[0]
            for _ in range(visits)
        ]


def profile_configs(
    configs: list[SubnetConfig],
    space: SearchSpace,
    device_name: str | Device,
    store: LatencyStore,
    *,
    checkpoint: str | Path | None = None,
    seed: int = 0,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    summary: ProfileSummary | None = None,
    retest: int | None = 0,
    visits: int = VISITS,
) -> ProfileSummary:
    """Profile ``configs`` not yet measured on this host, ``batch`` at a time, then visit each again in
    later batches until it has ``visits`` (a third for those whose visits disagree or whose label
    surprises). With ``visits=1``: re-measure :func:`.visits.retest_target` of them (``retest`` more than the
    default). ``retest=None``: one visit each, nothing more. Every record is committed at once."""
    device = get_device(device_name)
    require_available(device)
    if visits < 1:
        raise ConfigError(f"visits must be at least 1, got {visits}")
    rng = np.random.default_rng(seed)  # a bad seed is refused before the store is touched
    with store.profiling():  # one profiler per store: never measure under another's load
        return _profile_locked(
            configs, space, device, store, checkpoint, seed, batch, progress, summary, rng, retest, visits
        )


def _profile_locked(
    configs: list[SubnetConfig],
    space: SearchSpace,
    device: Device,
    store: LatencyStore,
    checkpoint: str | Path | None,
    seed: int,
    batch: int,
    progress: Progress | None,
    summary: ProfileSummary | None,
    rng: np.random.Generator,
    retest: int | None = 0,
    visits: int = VISITS,
) -> ProfileSummary:
    host = host_id_of(fingerprint(device))
    plan = VisitPlan(configs, space, store, device.name, host, visits=visits, retest=retest, seed=seed)
    todo = plan.new()
    s = summary or ProfileSummary(device.name, space.name, len(configs), len(configs) - len(todo))
    total = plan.expected_total()  # the later visits are planned now; which retests, once the first exist
    start = time.perf_counter()
    exporter: Exporter | None = None
    models = tempfile.TemporaryDirectory(prefix="hwnas-models-")  # the ladder and the subnets, exported once
    memory = ladder_memory(device.name, host, space)
    try:
        for phase in plan.phases():
            cfgs = plan.subnets(phase)
            if not cfgs:
                continue
            exporter = exporter or Exporter(space, checkpoint, seed)
            for b in range(0, len(cfgs), batch):
                with tempfile.TemporaryDirectory(prefix="hwnas-profile-") as tmp:
                    batch_cfgs = cfgs[b : b + batch]
                    for rec in _measure(
                        device, space, exporter, batch_cfgs, Path(tmp), rng, s.seconds, True, Path(models.name), memory
                    ):
                        store.add(rec)
                        s.records.append(rec)
                        s.retested += phase != "new"
                        if progress:
                            progress(rec, len(s.records), max(total, len(s.records)))
    except KeyboardInterrupt:
        s.interrupted = True
    finally:
        models.cleanup()
        s.elapsed_s = time.perf_counter() - start
    return s


def profile_space(
    space: SearchSpace,
    device_name: str | Device,
    n: int,
    store_path: str | Path,
    *,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    retest: int | None = 0,
    visits: int = VISITS,
) -> ProfileSummary:
    """Profile the first ``n`` subnets of the seeded plan into the store at ``store_path`` (resumes), in
    ``visits`` visits each (see :func:`profile_configs`; ``retest``: with one visit, re-measure
    :func:`.visits.retest_target` of them plus ``retest``; None: one visit each, nothing more)."""
    device = get_device(device_name)
    require_available(device)
    configs = sampling.plan(space, n, seed)  # before the store is created: a bad seed leaves nothing behind
    with LatencyStore(store_path) as store:
        return profile_configs(
            configs,
            space,
            device,
            store,
            checkpoint=checkpoint,
            seed=seed,
            batch=batch,
            progress=progress,
            retest=retest,
            visits=visits,
        )
