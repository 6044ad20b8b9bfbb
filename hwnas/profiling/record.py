"""`LatencyRecord`: one measured (or failed) subnet on one device, with everything that changes latency."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from hwnas.core.config import SubnetConfig
from hwnas.devices import Device
from hwnas.devices.host import cpu_model
from hwnas.profiling.backends import backend_for
from hwnas.profiling.backends import fingerprint as host_fingerprint

OK, FAILED = "ok", "failed"
FLOAT_COLUMNS = (
    "latency_ms",
    "median_ms",
    "spread",
    "ref_ms",
    "setup_s",
    "quantize_s",
    "load_avg",
    "others_cores",
    "compute_ms",
    "e2e_ms",
)
LIST_FIELDS = ("mlp_ratio", "num_heads", "block_ms", "refs_ms", "base_ms")  # stored as JSON text
FIGURES = ("compute_ms", "e2e_ms")  # per-run figures a GPU runner times besides latency_ms


@dataclass
class LatencyRecord:
    """A row of the latency store. ``latency_ms`` is the central figure (NaN when failed)."""

    key: str
    device: str
    space: str
    space_digest: str
    embed_dim: int
    depth: int
    mlp_ratio: list[float]
    num_heads: list[int]
    status: str = OK
    reason: str = ""
    latency_ms: float = math.nan  # 10th percentile of all timed runs (see protocol)
    median_ms: float = math.nan  # median of all timed runs
    block_ms: list[float] = field(default_factory=list)  # per-block 10th percentile, in block order
    spread: float = math.nan  # IQR of block_ms / median of block_ms
    runs: int = 0  # timed runs behind latency_ms
    ref_ms: float = math.nan  # the space's min subnet, measured in the same rounds (drift check)
    refs_ms: list[float] = field(default_factory=list)  # the reference ladder's figures in this batch
    base_ms: list[float] = field(default_factory=list)  # the host's remembered quiet ladder (host_memory)
    warmup_runs: int = 0
    attempts: int = 0  # 1 + re-measurements because the spread was too wide
    threads: int = 0
    batch_size: int = 1
    runtime: str = ""
    clock: str = "wall"  # wall, thread (CPU time, 1-thread CPU) or cuda-event
    runtime_version: str = ""
    provider: str = ""
    exporter_version: str = ""
    opset: int = 0
    precision: str = "fp32"
    setup_s: float = math.nan  # session creation / engine build time
    quantize_s: float = math.nan  # INT8 devices: the quantization that made the measured file (not timed)
    load_avg: float = math.nan  # 1-minute load average when measured
    others_cores: float = math.nan  # cores other processes kept busy while the batch was timed
    host: str = field(default_factory=cpu_model)  # CPU model
    created_at: float = field(default_factory=time.time)
    # GPU devices time two figures (10th percentile of the same runs as latency_ms; NaN where a runtime
    # times only one) and say which one latency_ms is and how each was taken:
    compute_ms: float = math.nan  # GPU compute time (CUDA events)
    e2e_ms: float = math.nan  # end-to-end latency (host clock around launch + synchronize)
    timing: str = ""  # e.g. "latency_ms=compute_ms; compute_ms: CUDA events ..."
    agent: str = ""  # the measuring agent ("NAME URL") when measured remotely; host is its CPU
    # Every measurement is a row of its own (the store is a log): which batch ("visit") took it, and the
    # host fingerprint it depends on. Labels are derived per (subnet, device, space, host_id).
    visit: str = ""  # one id per measured batch (its reference subnet drift-corrects the whole batch)
    fingerprint: str = ""  # JSON: cpu, cores, runtime and version (+ gpu, driver; an agent adds its name)
    host_id: str = ""  # host_id_of(fingerprint): same hardware and software = same host

    def __post_init__(self) -> None:
        if self.fingerprint and not self.host_id:
            self.host_id = host_id_of(self.fingerprint)

    @classmethod
    def for_config(
        cls, cfg: SubnetConfig, device: Device, space_name: str, space_digest: str, **kw: Any
    ) -> LatencyRecord:
        fp = kw.pop("fingerprint", None)  # a dict (an agent's) or None: this machine's
        fp = json.dumps(host_fingerprint(device) if fp is None else fp, sort_keys=True)
        return cls(
            key=cfg.key(),
            fingerprint=fp,
            device=device.name,
            space=space_name,
            space_digest=space_digest,
            embed_dim=cfg.embed_dim,
            depth=cfg.depth,
            mlp_ratio=list(cfg.mlp_ratio),
            num_heads=list(cfg.num_heads),
            threads=device.threads,
            batch_size=device.batch_size,
            clock=backend_for(device).clock(device),
            precision=device.precision,
            provider=device.provider,
            runtime=device.runtime,
            timing=timing_of(device),
            **kw,
        )

    def take_figures(self, figures: dict[str, float]) -> LatencyRecord:
        """Copy a measurement's extra figures (``Measurement.figures``: compute_ms, e2e_ms) in."""
        for k in FIGURES:
            if k in figures:
                setattr(self, k, float(figures[k]))
        return self

    def fail(self, reason: str) -> LatencyRecord:
        """Mark failed with a one-line reason (the statistics are cleared)."""
        self.status, self.reason = FAILED, " ".join(str(reason).split())[:500] or "unknown error"
        self.latency_ms = self.median_ms = self.spread = self.compute_ms = self.e2e_ms = math.nan
        self.block_ms, self.runs = [], 0
        return self

    @property
    def ok(self) -> bool:
        return self.status == OK

    def config(self) -> SubnetConfig:
        return SubnetConfig(self.embed_dim, self.depth, tuple(self.mlp_ratio), tuple(self.num_heads))

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        for k in LIST_FIELDS:
            row[k] = json.dumps(row[k])
        for k, v in row.items():  # SQLite has no NaN: store NULL
            if isinstance(v, float) and math.isnan(v):
                row[k] = None
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> LatencyRecord:
        names = {f.name for f in fields(cls)}
        # NULL in a column an older store gained later (ALTER TABLE ADD COLUMN): the field's default
        d = {k: v for k, v in row.items() if k in names and (v is not None or k in FLOAT_COLUMNS)}
        for k in LIST_FIELDS:
            d[k] = json.loads(d[k]) if isinstance(d.get(k), str) else d.get(k, [])
        for k in FLOAT_COLUMNS:
            if d.get(k) is None:
                d[k] = math.nan
        return cls(**d)


def host_id_of(fp: str | dict[str, str]) -> str:
    """A short digest of a host fingerprint, without the agent's ``name``: two machines with the same CPU
    model, cores, runtime version (and GPU, driver) are one host for latency labels, whatever they are
    called; any difference makes another host, whose labels are never mixed with these."""
    d = json.loads(fp) if isinstance(fp, str) else dict(fp)
    d.pop("name", None)
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


def new_visit() -> str:
    """An id for one measured batch (unique across processes and machines)."""
    return f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def timing_of(device: Device) -> str:
    """What latency_ms of a record on ``device`` is and how it is timed (the backend says, if it can)."""
    backend = backend_for(device)
    describe = getattr(backend, "timing", None)
    if callable(describe):
        return str(describe(device))
    return f"latency_ms: {backend.clock(device)} clock around each run"


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return math.nan
