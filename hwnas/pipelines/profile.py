"""Profiling wiring: sample -> extract -> export ONNX (temp dir) -> measure (protocol) -> store.

``profile_space(space, device_name, n, store_path, seed=0, checkpoint=None, batch=8, progress=None)``
profiles the first ``n`` subnets of the seeded plan (:func:`hwnas.profiling.sampling.plan`) that the store
does not hold yet, a batch at a time, committing each record as soon as it is final. Killed and started
again, it measures only what is missing. ``measure_subnet`` measures one subnet now, without a store.
A subnet that fails to export or to run becomes a ``failed`` record with the reason; the run goes on.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.devices import Device
from hwnas.devices import get as get_device
from hwnas.profiling import sampling
from hwnas.profiling.backends import open_runner, require_available
from hwnas.profiling.backends.base import Runner
from hwnas.profiling.protocol import Measurement, measure_batch
from hwnas.profiling.record import LatencyRecord, load_average
from hwnas.profiling.store import LatencyStore

REF = "__reference__"  # the space's min subnet, measured in every batch to expose drift
DEFAULT_BATCH = 8

Progress = Callable[[LatencyRecord, int, int], None]


@dataclass
class ProfileSummary:
    device: str
    space: str
    planned: int
    skipped: int  # already in the store
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
        return 60.0 * len(self.records) / self.elapsed_s if self.elapsed_s > 0 else 0.0


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
    if isinstance(ref, Measurement):
        rec.ref_ms = ref.latency_ms
    return rec


def _measure(
    device: Device,
    space: SearchSpace,
    exporter: Exporter,
    cfgs: list[SubnetConfig],
    workdir: Path,
    rng: np.random.Generator,
    seconds: dict[str, float],
    with_reference: bool = True,
) -> list[LatencyRecord]:
    """One batch: export and load each subnet (failures recorded), then measure them interleaved."""
    fp16 = device.precision == "fp16"
    recs = {
        c.key(): LatencyRecord.for_config(
            c, device, space.name, space.digest(), opset=exporter.opset, exporter_version=exporter.version
        )
        for c in cfgs
    }
    todo = [(c.key(), c) for c in cfgs]
    if with_reference:
        todo.append((REF, space.min_config()))
    runners: dict[str, Runner] = {}
    try:
        for i, (key, cfg) in enumerate(todo):
            t0 = time.perf_counter()
            try:
                path = exporter.export(cfg, workdir / f"{i}.onnx", fp16=fp16, batch_size=device.batch_size)
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
        results = measure_batch(runners, device, rng) if runners else {}
        seconds["measure"] += time.perf_counter() - t0
        ref = results.get(REF)
        for key, res in results.items():
            if key == REF:
                continue
            recs[key].load_avg = load
            if isinstance(res, str):
                recs[key].fail(res)
            else:
                _fill(recs[key], res, runners[key].setup_s, ref)
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
) -> LatencyRecord:
    """Measure one subnet now with the protocol (no store). A failure comes back as a failed record."""
    device = get_device(device_name)
    require_available(device)
    exporter = Exporter(space, checkpoint, seed)
    with tempfile.TemporaryDirectory(prefix="hwnas-measure-") as tmp:
        return _measure(
            device,
            space,
            exporter,
            [cfg],
            Path(tmp),
            np.random.default_rng(seed),
            {"export": 0.0, "setup": 0.0, "measure": 0.0},
            with_reference=False,
        )[0]


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
) -> ProfileSummary:
    """Profile ``configs`` not yet in ``store``, ``batch`` at a time; every record committed at once."""
    device = get_device(device_name)
    require_available(device)
    rng = np.random.default_rng(seed)  # a bad seed is refused before the store is touched
    with store.profiling():  # one profiler per store: never measure under another's load
        return _profile_locked(configs, space, device, store, checkpoint, seed, batch, progress, summary, rng)


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
) -> ProfileSummary:
    stored = store.keys(device.name, space.digest())
    todo = [c for c in configs if c.key() not in stored]
    s = summary or ProfileSummary(device.name, space.name, len(configs), len(configs) - len(todo))
    start = time.perf_counter()
    exporter = Exporter(space, checkpoint, seed) if todo else None
    try:
        for b in range(0, len(todo), batch):
            assert exporter is not None  # made whenever there is something to do
            with tempfile.TemporaryDirectory(prefix="hwnas-profile-") as tmp:
                for rec in _measure(device, space, exporter, todo[b : b + batch], Path(tmp), rng, s.seconds):
                    if store.add(rec):
                        s.records.append(rec)
                        if progress:
                            progress(rec, len(s.records), len(todo))
    except KeyboardInterrupt:
        s.interrupted = True
    finally:
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
) -> ProfileSummary:
    """Profile the first ``n`` subnets of the seeded plan into the store at ``store_path`` (resumes)."""
    device = get_device(device_name)
    require_available(device)
    configs = sampling.plan(space, n, seed)  # before the store is created: a bad seed leaves nothing behind
    with LatencyStore(store_path) as store:
        return profile_configs(
            configs, space, device, store, checkpoint=checkpoint, seed=seed, batch=batch, progress=progress
        )
