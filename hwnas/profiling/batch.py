"""A measured batch becomes records: each subnet's figures, its batch's reference ladder, its host's baseline.

Every batch carries the space's reference ladder (:mod:`hwnas.profiling.ladder`) beside its subnets. The
ladder's figures are remembered per host (:class:`HostMemories`) and each record carries them (``refs_ms``:
those of the attempt it kept; ``base_ms``: the host's remembered quiet ladder), so a label can be put at the
host's typical speed (:func:`hwnas.profiling.labels.at_typical_speed`), wherever the batch was measured.
"""

from __future__ import annotations

import math
import threading

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.devices import Device
from hwnas.profiling.host_memory import HostMemory
from hwnas.profiling.ladder import ladder
from hwnas.profiling.measurer import BatchResult
from hwnas.profiling.protocol import Measurement
from hwnas.profiling.record import LatencyRecord, host_id_of, new_visit

REF = "__reference__"  # the space's min subnet (rung 0 of the ladder), measured in every batch to expose drift


def ladder_keys(space: SearchSpace) -> list[str]:
    """The keys the reference ladder's rungs are measured under in a batch (rung 0 is :data:`REF`)."""
    return [REF if j == 0 else f"{REF}{j}" for j in range(len(ladder(space)))]


def ladder_memory(device_name: str, host: str, space: SearchSpace) -> HostMemory:
    """The remembered quiet figures of ``space``'s reference ladder on ``host`` (host_memory.py)."""
    return HostMemory(device_name, host, space.digest(), [c.key() for c in ladder(space)])


class HostMemories:
    """The remembered quiet ladder of each host met in a run, safe to use from the fleet's threads."""

    def __init__(self, device: Device, space: SearchSpace) -> None:
        self.device, self.space = device, space
        self._by_host: dict[str, HostMemory] = {}
        self._lock = threading.Lock()

    def remember(self, fp: dict[str, str], refs_ms: list[float], others_cores: float) -> list[float]:
        """Add one batch's ladder figures to its host's memory; the host's baseline that includes them."""
        host = host_id_of(fp)
        with self._lock:
            if host not in self._by_host:
                self._by_host[host] = ladder_memory(self.device.name, host, self.space)
            return self._by_host[host].remember(refs_ms, others_cores)


def records_of(
    result: BatchResult,
    keys: list[str],
    cfgs: list[SubnetConfig],
    failed: dict[str, str],
    device: Device,
    space: SearchSpace,
    exported_with: tuple[int, str],
    memories: HostMemories | None,
    quantize_s: dict[str, float] | None = None,
) -> list[LatencyRecord]:
    """One record per subnet of ``cfgs`` from a batch measured from the files ``keys`` (in that order;
    the ladder's rungs among them), tagged with the measuring host. ``failed``: keys that never reached
    the measurer, with why; ``exported_with``: (opset, exporter version); ``quantize_s``: the seconds each
    subnet's quantization took, where its file was made for this batch."""
    got = dict(zip(keys, result.results))
    rungs = ladder_keys(space) if any(k in got for k in ladder_keys(space)) else []
    index = {k: str(i) for i, k in enumerate(keys)}
    batch_refs = [_ms(got[k].measurement) if k in got else math.nan for k in rungs]
    base_ms: list[float] = []
    if memories is not None and rungs:
        base_ms = memories.remember(result.fingerprint, batch_refs, result.others_cores)
    visit, fp = new_visit(), result.fingerprint
    out = []
    for c in cfgs:
        rec = LatencyRecord.for_config(
            c,
            device,
            space.name,
            space.digest(),
            opset=exported_with[0],
            exporter_version=exported_with[1],
            host=fp.get("cpu", ""),
            fingerprint=fp,
            visit=visit,
            agent=result.agent,
        )
        rec.quantize_s = (quantize_s or {}).get(c.key(), math.nan)
        res = got.get(c.key())
        if res is None:
            out.append(rec.fail(failed.get(c.key(), "not measured")))
            continue
        rec.runtime_version, rec.load_avg, rec.others_cores = res.runtime_version, result.load_avg, result.others_cores
        m = res.measurement
        if m is None:
            out.append(rec.fail(res.reason))
            continue
        rec.latency_ms, rec.median_ms, rec.block_ms = m.latency_ms, m.median_ms, m.block_ms
        rec.spread, rec.runs, rec.warmup_runs, rec.attempts = m.spread, m.runs, m.warmup_runs, m.attempts
        rec.setup_s = res.setup_s
        rec.take_figures(m.figures)
        # the ladder of the attempt this record kept (the batch's first unless it was re-measured)
        rec.refs_ms = [float(m.refs.get(index.get(k, ""), ms)) for k, ms in zip(rungs, batch_refs)]
        rec.ref_ms = rec.refs_ms[0] if rungs else math.nan
        rec.base_ms = base_ms
        out.append(rec)
    return out


def _ms(m: Measurement | None) -> float:
    return math.nan if m is None else float(m.latency_ms)
