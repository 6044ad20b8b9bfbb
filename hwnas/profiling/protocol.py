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
2. **Batches, not single subnets**: subnets are exported and loaded a batch at a time
   (:data:`DEFAULT_BATCH`, 16), then measured together, so a slow period spreads over all of them
   instead of landing on one, and the reference ladder measured with them takes a quarter of the rounds.
3. **Warm-up until steady**: chunks of runs until a chunk's median is within 5 % of the previous one
   (at least ``device.warmup_runs`` runs, at most 8 chunks); the last chunk sizes the blocks.
4. **Interleaved blocks**: ``device.rounds`` rounds; each round visits the batch in a fresh random
   order and times one block of each subnet (about ``device.block_ms`` of runs, within the device's
   block bounds). Python's garbage collector is off while timing.
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
   record's ``refs_ms``. Labels are rescaled at fit time by the batch's slowdown at the subnet's size
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
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from hwnas.devices import Device
from hwnas.profiling.backends.base import Runner

PERCENTILE = 10.0
DEFAULT_BATCH = 16  # subnets measured together; the 5 ladder rungs then take 24 % of the rounds (38 % at 8)
WARMUP_CHUNKS_MAX = 8
STEADY_TOL = 0.05


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


def warm_up(runner: Runner, device: Device) -> tuple[int, float]:
    """Run until steady; returns (runs made, latency estimate in ms)."""
    chunk = max(3, math.ceil(device.warmup_runs / 2))
    done, prev, med = 0, math.inf, math.inf
    for _ in range(WARMUP_CHUNKS_MAX):
        med = float(np.median(runner.time_runs(chunk)))
        done += chunk
        if done >= device.warmup_runs and abs(med - prev) <= STEADY_TOL * prev:
            break
        prev = med
    return done, min(med, prev)


def block_runs(estimate_ms: float, device: Device) -> int:
    """Runs per block: about ``device.block_ms`` worth, within the device's bounds."""
    if not math.isfinite(estimate_ms) or estimate_ms <= 0:
        return device.min_block_runs
    return int(min(device.max_block_runs, max(device.min_block_runs, math.ceil(device.block_ms / estimate_ms))))


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


def _rounds(
    runners: dict[str, Runner],
    sizes: dict[str, int],
    rounds: int,
    rng: np.random.Generator,
    errors: dict[str, str],
    figures: dict[str, dict[str, list[float]]] | None = None,
) -> dict[str, list[list[float]]]:
    """Interleaved rounds over the live runners; a runner that raises is dropped into ``errors``.
    A runner's ``last_figures`` after each block are appended to ``figures[key]``."""
    blocks: dict[str, list[list[float]]] = {k: [] for k in runners}
    figs = figures if figures is not None else {}
    keys = list(runners)
    for _ in range(rounds):
        for i in rng.permutation(len(keys)):
            k = keys[i]
            if k in errors:
                continue
            try:
                blocks[k].append(runners[k].time_runs(sizes[k]))
                for name, values in (getattr(runners[k], "last_figures", None) or {}).items():
                    figs.setdefault(k, {}).setdefault(name, []).extend(values)
            except Exception as e:  # a model that cannot run is a failed record, not a failed batch
                errors[k] = f"run failed: {type(e).__name__}: {e}"
    return {k: v for k, v in blocks.items() if k not in errors}


def measure_batch(
    runners: dict[str, Runner], device: Device, rng: np.random.Generator, references: Collection[str] = ()
) -> dict[str, Measurement | str]:
    """Measure a batch of loaded models together; each key maps to a Measurement or a failure reason.

    ``references`` (keys of ``runners``, e.g. the reference ladder) are measured in every attempt, so a
    re-measured record is compared with references timed in the same rounds: each other key's
    Measurement carries their figures from its kept attempt in ``refs``."""
    errors: dict[str, str] = {}
    warm: dict[str, tuple[int, float]] = {}
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for k, r in runners.items():
            try:
                warm[k] = warm_up(r, device)
            except Exception as e:
                errors[k] = f"run failed: {type(e).__name__}: {e}"
        sizes = {k: block_runs(w[1], device) for k, w in warm.items()}
        live = {k: r for k, r in runners.items() if k not in errors}
        refs = [k for k in references if k in live]
        best: dict[str, Measurement] = {}
        todo = live
        for attempt in range(1, device.max_retries + 2):
            figs: dict[str, dict[str, list[float]]] = {}
            now = {k: summarise(b) for k, b in _rounds(todo, sizes, device.rounds, rng, errors, figs).items()}
            ref_now = {k: now[k][0] for k in refs if k in now}
            for k, (lat, med, per_block, spread, runs) in now.items():
                if k in refs and k in best:
                    continue  # a reference keeps its first attempt (the batch's figure)
                if k not in best or spread < best[k].spread:
                    extra = {n: float(np.percentile(v, PERCENTILE)) for n, v in figs.get(k, {}).items()}
                    kept = {} if k in refs else dict(ref_now)
                    best[k] = Measurement(lat, med, per_block, spread, runs, warm[k][0], attempt, extra, kept)
                best[k].attempts = attempt
            wide = [k for k, m in best.items() if m.spread > device.max_spread and k not in errors and k not in refs]
            if not wide:
                break
            todo = {k: live[k] for k in [*wide, *refs] if k not in errors}
    finally:
        if gc_was:
            gc.enable()
    out: dict[str, Measurement | str] = {k: best[k] for k in best if k not in errors}
    out.update(errors)
    return out
