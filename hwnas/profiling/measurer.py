"""Where a batch of model files is measured: the :class:`Measurer` interface and its local implementation.

A measurer takes a batch of exported models (the subnets and the reference ladder's rungs), measures them
together with the protocol (:func:`hwnas.profiling.protocol.measure_batch`) and answers a
:class:`BatchResult`: one :class:`ModelResult` per file, in order, and the host that measured them. This
machine is a :class:`LocalMeasurer`; a measuring agent is :class:`hwnas.agent.measurer.AgentMeasurer`.
A profile runs on a fleet of measurers (:mod:`hwnas.profiling.fleet`); a local run is a fleet of one.

A measurer raises :class:`MeasurerLost` when it went away mid-batch (the batch may go to another one) and
any other :class:`~hwnas.core.errors.HwnasError` when it refused (retrying elsewhere would not help).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hwnas.core.errors import HwnasError
from hwnas.devices import Device
from hwnas.profiling.backends import fingerprint, open_runner, require_available
from hwnas.profiling.host_memory import OthersMeter
from hwnas.profiling.protocol import Measurement, measure_batch, resident_bytes
from hwnas.profiling.record import load_average


class MeasurerLost(HwnasError, ConnectionError):
    """The measurer went away (refused, reset, timed out): its batch may be measured elsewhere."""


@dataclass
class ModelResult:
    """One model's outcome: a Measurement, or the reason it failed."""

    measurement: Measurement | None
    reason: str = ""
    setup_s: float = math.nan
    runtime_version: str = ""


@dataclass
class BatchResult:
    """A measured batch: one result per model file (in the order given) and where it was measured."""

    results: list[ModelResult]
    fingerprint: dict[str, str]  # the measuring host (hwnas.profiling.backends.fingerprint)
    load_avg: float = math.nan  # 1-minute load average there when measured
    others_cores: float = math.nan  # cores other processes kept busy there meanwhile; NaN if unknown
    seconds: dict[str, float] = field(default_factory=dict)  # "setup" and "measure"
    agent: str = ""  # "NAME URL" of the agent that measured it; "" on this machine


class Measurer(Protocol):
    """Measures batches of model files on one device of one host."""

    @property
    def where(self) -> str:
        """A short name for logs: "this machine", or the agent's URL."""
        ...

    def check(self, device: Device) -> dict[str, Any]:
        """Refuse with one line unless ``device`` can be measured here; the info, with its ``fingerprint``."""
        ...

    def measure(self, device: Device, paths: Sequence[Path], seed: int, references: Collection[int]) -> BatchResult:
        """Measure ``paths`` together on ``device`` (``references``: the indices of the ladder's rungs, timed
        in every attempt so each result carries them)."""
        ...


class Watch(Protocol):
    """Told what :func:`measure_files` is doing (an agent's sandbox sets its per-model limits by it)."""

    def opening(self, index: int) -> None: ...

    def opened(self, index: int) -> None: ...

    def measuring(self) -> None: ...


def measure_files(
    device: Device,
    paths: Sequence[Path],
    seed: int,
    references: Collection[int] = (),
    indices: Sequence[int] | None = None,
    watch: Watch | None = None,
) -> BatchResult:
    """Open every model on this machine and run it once (a model that cannot load or run fails alone;
    past ``device.session_mib`` of sessions, a lazy runner is left to open with its
    group), measure them together, close them; one result per path. ``indices``: each path's index in its batch
    (default 0, 1, ...), which ``references`` and each Measurement's ``refs`` speak of."""
    indices = list(range(len(paths))) if indices is None else list(indices)
    runners = {}
    results: dict[str, ModelResult] = {}
    seconds = {"setup": 0.0, "measure": 0.0}
    load, others_cores = math.nan, math.nan
    start_bytes, per = resident_bytes(), 0  # per: the most one session has taken so far
    try:
        for i, p in zip(indices, paths):
            if watch:
                watch.opening(i)
            t0 = time.perf_counter()
            runner = None
            try:
                runner = open_runner(device, p, seed=seed)
                before = resident_bytes()
                if not (runner.releasable and before - start_bytes + per > device.session_mib << 20):
                    runner.time_runs(1)  # else past the memory budget: opened with its group (protocol.py, 2.)
                    per = max(per, resident_bytes() - before)
                runners[str(i)] = runner
            except Exception as e:  # a model that cannot load or run is a failed result, not a failed batch
                results[str(i)] = ModelResult(None, f"could not load and run the model: {type(e).__name__}: {e}")
                if runner is not None:
                    runner.close()
            finally:
                seconds["setup"] += time.perf_counter() - t0
            if watch:
                watch.opened(i)
        if watch:
            watch.measuring()
        t0 = time.perf_counter()
        load = load_average()
        refs = [str(i) for i in references if str(i) in runners]
        with OthersMeter() as others:
            rng = np.random.default_rng(seed)
            measured = measure_batch(runners, device, rng, references=refs, base_bytes=start_bytes) if runners else {}
        others_cores = others.cores
        seconds["measure"] = time.perf_counter() - t0
        for k, res in measured.items():
            r = runners[k]
            results[k] = (
                ModelResult(None, res, r.setup_s, r.runtime_version)
                if isinstance(res, str)
                else ModelResult(res, "", r.setup_s, r.runtime_version)
            )
    finally:
        for r in runners.values():
            r.close()
    return BatchResult([results[str(i)] for i in indices], fingerprint(device), load, others_cores, seconds)


class LocalMeasurer:
    """This machine: the models run in this process, one batch at a time."""

    where = "this machine"

    def check(self, device: Device) -> dict[str, Any]:
        require_available(device)
        return {"fingerprint": fingerprint(device)}

    def measure(self, device: Device, paths: Sequence[Path], seed: int, references: Collection[int]) -> BatchResult:
        return measure_files(device, paths, seed, references)
