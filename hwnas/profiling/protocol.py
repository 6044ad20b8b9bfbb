"""The measuring protocol: how one latency label is taken, and why.

What it guards against, on a CPU shared with other jobs:

* the first runs after a session is created are slower than steady state;
* interference only ever adds time. Two kinds: contention (shared core, caches, memory: the run is
  slower while on the CPU) and preemption (the run is descheduled for other processes). Preemption
  makes wall-clock figures of the same subnet disagree between runs far more than contention does;
* a second intra-op thread speeds small models up little but makes every statistic far less
  repeatable: a busy neighbour steals a core from a 2-thread run;
* slow periods last seconds, so consecutive measurements of one subnet share them.

Hence:

1. **Threads are part of the device**: ``cpu`` = 1 intra-op thread (the repeatable label; the default),
   ``cpu-mt`` = all physical cores (never more threads than cores: oversubscription is far slower).
   Sequential execution, all graph optimisations, one fixed seeded random input bound once (IOBinding).
   With one thread the whole run happens on the calling thread, so ``cpu`` times each run by that
   thread's CPU time (``clock='thread'``): the latency on an unshared core, blind to preemption;
   multi-threaded and GPU devices use wall time (or CUDA events). The clock is recorded.
2. **Batches, not single subnets**: subnets are exported a batch at a time (:data:`DEFAULT_BATCH`, 16)
   and measured together, so a slow period spreads over many of them instead of landing on one. As many
   sessions are alive at once as ``device.session_mib`` (2 GiB) of memory allows, the rungs' included
   (all of them for small models; an AutoFormer-T session holds ~250 MB of folded constants, so about
   six there besides two rungs): the batch is measured in groups, the ladder's rungs alive throughout and
   interleaved with every group; a ``releasable`` runner (ONNX Runtime's) is freed when its group is done.
3. **Warm-up until steady, sized in time**: after one run that sizes them, chunks of about
   ``device.block_ms`` of runs (1 to ``warmup_runs / 2``) until a chunk's median is within 5 % of the
   previous one (at least two chunks, at most 8): 11 runs of a 1 ms model, 3 of a 60 ms one (the
   earlier fixed count was 10 runs or more, whatever the model). Its last chunk sizes the blocks.
4. **Interleaved blocks, stopped by the label's own confidence**: each round visits the group and the
   rungs in a fresh random order and times one block of each (about ``device.block_ms`` of runs, at
   least one). A subnet leaves the rounds once its label is tight: the distribution-free ~95 % interval
   of its 10th percentile (the order statistics at 10 % +- 1.96 sd of the binomial count, what a
   bootstrap of the runs converges to, without resampling) is within ``device.label_tol`` (1 %), after
   ``device.min_rounds`` (10) rounds and ``device.min_ms`` (200 ms) of timed runs; at the latest after
   ``device.rounds`` (16) rounds, or once ``device.max_ms`` (2 s) of timed runs are spent and it has
   :data:`MIN_BLOCKS` (3) blocks. A 1 ms model thus keeps at least the earlier fixed protocol's 10
   rounds of 20 ms blocks, and a 100 ms subnet gets 10 to 16 runs instead of 40. (6 rounds with a
   768 MiB session budget were tried on AutoFormer-T: no faster, and the store's retest median was
   5.1 % against 2.2 % for the fixed protocol, on a host whose sessions of one model ran 10-50 % apart:
   a visit's runs must spread over enough of the batch to meet its fast moments.) Python's
   garbage collector is off while timing.
5. **Statistic**: ``latency_ms`` = 10th percentile of all timed runs (in a test-retest comparison it
   was the most repeatable figure, well ahead of the median of block medians); ``median_ms`` is kept too.
6. **Spread**: ``block_ms`` holds each block's 10th percentile; ``spread`` = their IQR / median. With
   ``device.max_retries`` > 0, a record whose spread exceeds ``device.max_spread`` is re-measured (at
   most that many times) in fresh interleaved rounds with the batch's other wide ones and its reference
   ladder; the attempt with the smaller spread is kept, with the ladder's figures of that same attempt
   (``Measurement.refs``), and ``attempts`` says how many were made. The built-in devices do not
   re-measure (``max_retries = 0``); a third visit in another batch (point 8) does that job. On a
   noisy host most records are wide (the median spread sits near 10 %): in one such stretch 72 of 110
   records were re-measured and profiling fell to 22.5 subnets/min (batches of 8, two visits), and
   re-measuring did not make one visit's corrected figure reliably steadier per second spent
   (benchmarks/protocol_noise.py). Without it, profiling's time no longer follows the load.
7. **Reference ladder**: a few fixed subnets spanning the space's sizes (:mod:`hwnas.profiling.ladder`;
   rung 0 is the smallest subnet, ``ref_ms``) are measured in every batch; their figures go into each
   record's ``refs_ms``. Their share of the batch's measuring time (warm-up included) is held to
   :data:`LADDER_SHARE` (15 %): a rung gets a block in a round only while its time stays within its
   part of that share of the subnets' time so far (at least ``min_rounds / 2`` blocks each).
   Labels are rescaled at fit time by the batch's slowdown at the subnet's size
   (contention slows large subnets more than small ones); ``latency_ms`` itself is never rescaled.
8. **Visits**: the profiler measures every subnet in three batches (:mod:`hwnas.profiling.visits`),
   more where no visit confirms the median; every measurement is kept and a label is the median of its
   visits (:mod:`hwnas.profiling.labels`). On a shared host one visit's corrected figure still moves by
   2-4 % (the host's speed does not slow every subnet as it slows the ladder), and only more visits
   take that out.
9. **Everything that changes latency is recorded**: device, threads, batch size, precision, runtime,
   its version and execution provider, exporter (torch) version, opset, CPU model, load average,
   session setup / engine build time.

GPU devices use the same rounds; each backend times its runs with its own clock
(:mod:`hwnas.profiling.backends`). A runner that times more than one figure per run (TensorRT: GPU
compute time and end-to-end latency) returns the device's ``latency`` figure from ``time_runs`` and
leaves all of them in ``last_figures``; each figure's 10th percentile over the kept attempt's runs goes
into ``Measurement.figures``. Measured cost and repeatability are in the README's benchmarks.

This module never imports a runtime: it drives any :class:`~hwnas.profiling.backends.base.Runner`.
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import numpy as np

from hwnas.devices import Device
from hwnas.profiling.backends.base import Runner

PERCENTILE = 10.0
DEFAULT_BATCH = 16  # subnets measured together
WARMUP_CHUNKS_MAX = 8
STEADY_TOL = 0.05
LADDER_SHARE = 0.15  # the rungs' share of a batch's measuring time
Z95 = 1.96
MIN_BLOCKS = 3  # a visit's fewest blocks, however slow the model


@dataclass
class Measurement:
    latency_ms: float
    median_ms: float
    block_ms: list[float]
    spread: float
    runs: int
    warmup_runs: int
    attempts: int
    figures: dict[str, float] = field(default_factory=dict)  # e.g. compute_ms, e2e_ms (p10 of all runs)
    refs: dict[str, float] = field(default_factory=dict)  # the references' latency_ms in the kept attempt


@dataclass
class _Track:
    """What one model has been timed so far in this batch (ms by the runner's clock)."""

    blocks: list[list[float]] = field(default_factory=list)
    warm_ms: float = 0.0
    timed_ms: float = 0.0
    done: bool = False

    @property
    def ms(self) -> float:
        return self.warm_ms + self.timed_ms

    def add(self, runs: list[float]) -> None:
        self.blocks.append(runs)
        self.timed_ms += float(sum(runs))


def warm_up(runner: Runner, device: Device) -> tuple[int, float, float]:
    """Run until steady; returns (runs made, latency estimate in ms, ms spent). The first run (which
    opens a lazy runner) sizes the chunks: about ``device.block_ms`` each, 1 to ``warmup_runs / 2`` runs."""
    first = runner.time_runs(1)
    chunk = max(1, min(math.ceil(device.warmup_runs / 2), math.ceil(device.block_ms / max(first[0], 1e-6))))
    done, spent, prev, med = 1, float(first[0]), math.inf, math.inf
    for _ in range(WARMUP_CHUNKS_MAX):
        runs = runner.time_runs(chunk)
        med, done, spent = float(np.median(runs)), done + chunk, spent + float(sum(runs))
        if math.isfinite(prev) and abs(med - prev) <= STEADY_TOL * prev:
            break
        prev = med
    return done, min(med, prev), spent


def block_runs(estimate_ms: float, device: Device) -> int:
    """Runs per block: about ``device.block_ms`` worth, within the device's bounds."""
    if not math.isfinite(estimate_ms) or estimate_ms <= 0:
        return device.min_block_runs
    return int(min(device.max_block_runs, max(device.min_block_runs, math.ceil(device.block_ms / estimate_ms))))


def label_halfwidth(runs: np.ndarray) -> float:
    """Half the width of the ~95 % distribution-free interval of the runs' 10th percentile, relative to it:
    the order statistics at p +- 1.96 sqrt(p (1 - p) / n), p = 0.1 (clipped to the sample's range)."""
    if runs.size < 2:
        return math.inf
    p = PERCENTILE / 100
    sd = math.sqrt(p * (1 - p) / runs.size)
    lo, mid, hi = np.percentile(runs, [100 * max(0.0, p - Z95 * sd), PERCENTILE, 100 * min(1.0, p + Z95 * sd)])
    return float((hi - lo) / 2 / mid) if mid > 0 else math.inf


def finished(track: _Track, device: Device) -> bool:
    """Has a subnet been timed enough in this visit? At the rounds' cap; past the time cap after
    :data:`MIN_BLOCKS` blocks; or tight after ``device.min_rounds`` rounds and ``device.min_ms``."""
    n = len(track.blocks)
    if n >= device.rounds:
        return True
    if n < min(MIN_BLOCKS, device.rounds):
        return False
    if track.timed_ms >= device.max_ms:
        return True
    if n < min(device.min_rounds, device.rounds) or track.timed_ms < device.min_ms:
        return False
    return label_halfwidth(np.concatenate([np.asarray(b, float) for b in track.blocks])) <= device.label_tol


def summarise(blocks: list[list[float]]) -> tuple[float, float, list[float], float, int]:
    """(p10 of all runs, median of all runs, per-block p10, spread, runs) of one attempt."""
    allr = np.concatenate([np.asarray(b, dtype=float) for b in blocks])
    per_block = [float(np.percentile(b, PERCENTILE)) for b in blocks]
    q1, mid, q3 = np.percentile(per_block, [25, 50, 75])
    return (
        float(np.percentile(allr, PERCENTILE)),
        float(np.median(allr)),
        per_block,
        float((q3 - q1) / mid) if mid > 0 else math.inf,
        int(allr.size),
    )


def resident_bytes() -> int:
    """This process's resident memory in bytes (0 where /proc is not there: no grouping)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def session_bytes(runners: Iterable[Runner], base: int) -> int:
    """A live session's memory: what the live ones hold over ``base``, per session (0 if none is live)."""
    live = sum(r.live for r in runners)
    return max(0, resident_bytes() - base) // live if live else 0


class _Batch:
    """One attempt over a batch: warm-up, groups, interleaved rounds, the ladder's time share."""

    def __init__(
        self,
        runners: dict[str, Runner],
        device: Device,
        rng: np.random.Generator,
        refs: list[str],
        errors: dict[str, str],
        base: int,
    ) -> None:
        self.runners, self.device, self.rng, self.refs, self.errors = runners, device, rng, refs, errors
        self.base = base
        self.tracks: dict[str, _Track] = {}
        self.sizes: dict[str, int] = {}
        self.warm_runs: dict[str, int] = {}
        self.figs: dict[str, dict[str, list[float]]] = {}

    def _time(self, k: str, op: str) -> None:
        """Warm up (``op`` "warm") or time one block of ``k``; a runner that raises goes into ``errors``."""
        try:
            if op == "warm":
                runs, est, spent = warm_up(self.runners[k], self.device)
                self.warm_runs[k], self.sizes[k] = runs, block_runs(est, self.device)
                self.tracks[k] = _Track(warm_ms=spent)
                return
            self.tracks[k].add(self.runners[k].time_runs(self.sizes[k]))
            for name, values in (getattr(self.runners[k], "last_figures", None) or {}).items():
                self.figs.setdefault(k, {}).setdefault(name, []).extend(values)
        except Exception as e:  # a model that cannot run is a failed record, not a failed batch
            self.errors[k] = f"run failed: {type(e).__name__}: {e}"

    def _rung_due(self, k: str, subnets_ms: float) -> bool:
        t = self.tracks[k]
        if len(t.blocks) < max(2, self.device.min_rounds // 2):  # a rung's floor: half a subnet's
            return True
        allowed = LADDER_SHARE / (1 - LADDER_SHARE) * subnets_ms / max(1, len(self.refs))
        return t.ms + t.timed_ms / len(t.blocks) <= allowed and len(t.blocks) < self.device.rounds

    def _rounds(self, group: list[str]) -> None:
        """Interleaved rounds over ``group`` (and the rungs, within their share) until every subnet is done."""
        while True:
            live = [k for k in group if k not in self.errors and not self.tracks[k].done]
            if not live:
                return
            subnets_ms = sum(t.ms for k, t in self.tracks.items() if k not in self.refs)
            rungs = [k for k in self.refs if k not in self.errors and self._rung_due(k, subnets_ms)]
            order = live + rungs
            for i in self.rng.permutation(len(order)):
                self._time(order[i], "block")
            for k in live:
                if k not in self.errors:
                    self.tracks[k].done = finished(self.tracks[k], self.device)

    def run(self, keys: list[str]) -> None:
        """Warm up the rungs, then measure ``keys`` in groups whose live sessions, counted from ``base``
        (the resident bytes before any session of the batch was opened), fit ``device.session_mib``."""
        for k in self.refs:
            self._time(k, "warm")
        # sessions opened before the batch (the measurer opens what fits) go first, in the first group
        todo = sorted((k for k in keys if k not in self.refs), key=lambda k: not self.runners[k].live)
        budget, per = self.device.session_mib << 20, session_bytes(self.runners.values(), self.base)
        while todo:
            group: list[str] = []
            while todo and (not group or self.runners[todo[0]].live or resident_bytes() - self.base + per <= budget):
                k, before = todo.pop(0), resident_bytes()
                opened = not self.runners[k].live
                self._time(k, "warm")
                per = max(per, resident_bytes() - before) if opened else per
                group.append(k)
            self._rounds(group)
            for k in group:
                if self.runners[k].releasable:
                    self.runners[k].release()

    def ladder_share(self) -> float:
        """The rungs' share of this attempt's measuring time (warm-up included)."""
        rung = sum(self.tracks[k].ms for k in self.refs if k in self.tracks)
        total = sum(t.ms for t in self.tracks.values())
        return rung / total if total > 0 else 0.0


def measure_batch(
    runners: dict[str, Runner],
    device: Device,
    rng: np.random.Generator,
    references: Collection[str] = (),
    base_bytes: int | None = None,
) -> dict[str, Measurement | str]:
    """Measure a batch of loaded models together; each key maps to a Measurement or a failure reason.

    ``references`` (keys of ``runners``, e.g. the reference ladder) are measured in every attempt, so a
    re-measured record is compared with references timed in the same rounds: each other key's
    Measurement carries their figures from its kept attempt in ``refs``. ``base_bytes``: the resident bytes
    before the runners opened their sessions (default: now), from which the sessions' memory is counted."""
    errors: dict[str, str] = {}
    base = resident_bytes() if base_bytes is None else base_bytes
    refs = [k for k in references if k in runners]
    best: dict[str, Measurement] = {}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        todo = list(runners)
        for attempt in range(1, device.max_retries + 2):
            batch = _Batch(runners, device, rng, refs, errors, base)
            batch.run(todo)
            now = {k: summarise(t.blocks) for k, t in batch.tracks.items() if k not in errors and t.blocks}
            ref_now = {k: now[k][0] for k in refs if k in now}
            for k, (lat, med, per_block, spread, runs) in now.items():
                if k in refs and k in best:
                    continue  # a reference keeps its first attempt (the batch's figure)
                if k not in best or spread < best[k].spread:
                    extra = {n: float(np.percentile(v, PERCENTILE)) for n, v in batch.figs.get(k, {}).items()}
                    kept = {} if k in refs else dict(ref_now)
                    best[k] = Measurement(lat, med, per_block, spread, runs, batch.warm_runs[k], attempt, extra, kept)
                best[k].attempts = attempt
            wide = [k for k, m in best.items() if m.spread > device.max_spread and k not in errors and k not in refs]
            if not wide:
                break
            todo = [k for k in [*wide, *refs] if k not in errors]
    finally:
        if gc_was:
            gc.enable()
    out: dict[str, Measurement | str] = {k: best[k] for k in best if k not in errors}
    out.update(errors)
    return out
