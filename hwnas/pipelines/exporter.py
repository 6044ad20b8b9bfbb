"""Exporting subnets for measurement: one supernet built once, a subnet (and the reference ladder) a file.

:class:`Exporter` extracts static subnets and exports them to ONNX; :func:`export_batch` writes a batch's
files (the subnets, then the ladder's rungs) into a run's cache, so later visits of a subnet reuse its file.
Local and agent measurements take the same files: where a batch is measured is the measurer's business.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.devices import Device
from hwnas.profiling.batch import REF, ladder_keys
from hwnas.profiling.ladder import ladder

CACHE_BYTES = 2**30  # model files kept for later visits in one run; beyond it, later visits export again


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


class ExportedBatch(NamedTuple):
    """A batch's model files by key (subnets first, then the ladder's rungs) and the keys that failed."""

    paths: dict[str, Path]
    failed: dict[str, str]  # key -> why it could not be exported
    rungs: list[str]  # the ladder's keys among ``paths``


def model_file(key: str, cache: Path | None, workdir: Path, pinned: bool = False) -> Path:
    """Where a model is (or is to be) exported: the run's cache if it is there already, if the cache
    has room, or if ``pinned`` (the ladder); else the batch's own folder."""
    name = hashlib.sha1(key.encode()).hexdigest()[:20] + ".onnx"
    if cache is None:
        return workdir / name
    if pinned or (cache / name).is_file() or sum(f.stat().st_size for f in cache.iterdir()) < CACHE_BYTES:
        return cache / name
    return workdir / name


def export_batch(
    exporter: Exporter,
    device: Device,
    space: SearchSpace,
    cfgs: list[SubnetConfig],
    workdir: Path,
    with_ladder: bool = True,
    cache: Path | None = None,
) -> ExportedBatch:
    """The model files of ``cfgs`` (and, ``with_ladder``, of the reference ladder's rungs) for ``device``.
    With ``cache``, each file is exported there once per run and reused by later visits."""
    paths, failed = {}, {}
    rungs = list(zip(ladder_keys(space), ladder(space))) if with_ladder else []
    for key, cfg in [(c.key(), c) for c in cfgs] + rungs:
        try:
            path = model_file(key, cache, workdir, pinned=key.startswith(REF))
            if not path.is_file():
                path = exporter.export(cfg, path, fp16=device.precision == "fp16", batch_size=device.batch_size)
            paths[key] = path
        except Exception as e:  # a subnet that cannot be exported is a failed record, not a failed run
            failed[key] = f"export failed: {type(e).__name__}: {e}"
    return ExportedBatch(paths, failed, [k for k, _ in rungs if k in paths])
