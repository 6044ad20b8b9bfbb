"""Exporting subnets for measurement: one supernet built once, a subnet (and the reference ladder) a file.

:class:`Exporter` extracts static subnets and writes each in the form its device deploys it
(:meth:`Exporter.deploy`): an ONNX model, quantized with ONNX Runtime's tools for an INT8 device
(:mod:`hwnas.profiling.quantize`, calibrated on training images), or a ``torch.export`` program for the
torch runtime. :func:`export_batch` writes a batch's files (the subnets, then the ladder's rungs) into a
run's cache, so later visits of a subnet reuse its file. Local and agent measurements take the same
files: where a batch is measured is the measurer's business.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.devices import Device
from hwnas.profiling.backends import backend_for
from hwnas.profiling.batch import REF, ladder_keys
from hwnas.profiling.heap import give_back_freed, keep_large_blocks_unmapped
from hwnas.profiling.ladder import ladder

CACHE_BYTES = 2**30  # model files kept for later visits in one run; beyond it, later visits export again


class Exporter:
    """Extracts static subnets from one supernet (built once, not per subnet) and exports them.
    ``data``: the training images an INT8-static device is calibrated on (the bundled set, or a folder)."""

    def __init__(
        self, space: SearchSpace, checkpoint: str | Path | None = None, seed: int = 0, data: str = "mnist"
    ) -> None:
        import torch

        from hwnas.supernet.export import DEFAULT_OPSET
        from hwnas.supernet.resolve import supernet_for

        keep_large_blocks_unmapped()  # before the supernet and the first export (hwnas.profiling.heap)
        self.space, self.opset, self.data = space, DEFAULT_OPSET, data
        self.version = f"torch {torch.__version__}"
        self.net = supernet_for(space, checkpoint, seed)
        self._calibration: dict[int, np.ndarray] = {}

    def deploy(self, device: Device, cfg: SubnetConfig, path: Path) -> tuple[Path, float]:
        """``cfg`` written to ``path`` in the form ``device`` measures, and the seconds a quantization took
        (recorded beside the latency, never timed as part of it)."""
        if backend_for(device).model_suffix == ".pt2":
            return self._torch_program(cfg, path, device.batch_size), 0.0
        if not device.quantized:
            return self.export(cfg, path, fp16=device.precision == "fp16", batch_size=device.batch_size), 0.0
        from hwnas.profiling.quantize import deploy_onnx

        fp32 = self.export(cfg, path.with_name(path.stem + "-fp32.onnx"), batch_size=device.batch_size)
        try:
            deployed = deploy_onnx(fp32, path, device, self.calibration(device))
        finally:
            fp32.unlink(missing_ok=True)
        return deployed.path, deployed.quantize_s

    def calibration(self, device: Device) -> np.ndarray | None:
        """The calibration images of an INT8-static device (drawn once per exporter); None for others."""
        if device.precision != "int8-static":
            return None
        if device.calibration not in self._calibration:
            from hwnas.profiling.quantize import calibration_images

            self._calibration[device.calibration] = calibration_images(self.space, self.data, device.calibration)
        return self._calibration[device.calibration]

    def _torch_program(self, cfg: SubnetConfig, path: Path, batch_size: int) -> Path:
        from hwnas.supernet.export_torch import export_torch

        self.space.check_fits(cfg)
        return export_torch(self.net.extract(cfg).eval(), path, batch_size=batch_size)

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
            give_back_freed()


class ExportedBatch(NamedTuple):
    """A batch's model files by key (subnets first, then the ladder's rungs) and the keys that failed."""

    paths: dict[str, Path]
    failed: dict[str, str]  # key -> why it could not be exported (or quantized)
    rungs: list[str]  # the ladder's keys among ``paths``
    quantize_s: dict[str, float]  # key -> seconds its quantization took, for the files made now


def model_file(key: str, cache: Path | None, workdir: Path, pinned: bool = False, suffix: str = ".onnx") -> Path:
    """Where a model is (or is to be) exported: the run's cache if it is there already, if the cache
    has room, or if ``pinned`` (the ladder); else the batch's own folder."""
    name = hashlib.sha1(key.encode()).hexdigest()[:20] + suffix
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
    """The model files of ``cfgs`` (and, ``with_ladder``, of the reference ladder's rungs) as ``device``
    measures them. With ``cache``, each file is made there once per run and reused by later visits."""
    from hwnas.profiling.quantize import QuantizationError

    paths, failed, quantize_s = {}, {}, {}
    rungs = list(zip(ladder_keys(space), ladder(space))) if with_ladder else []
    suffix = backend_for(device).model_suffix
    for key, cfg in [(c.key(), c) for c in cfgs] + rungs:
        try:
            path = model_file(key, cache, workdir, pinned=key.startswith(REF), suffix=suffix)
            if not path.is_file():
                path, seconds = exporter.deploy(device, cfg, path)
                if device.quantized:
                    quantize_s[key] = seconds
            paths[key] = path
        except QuantizationError as e:  # stored as a failed record with the reason, never as a latency
            failed[key] = str(e)
        except Exception as e:  # a subnet that cannot be exported is a failed record, not a failed run
            failed[key] = f"export failed: {type(e).__name__}: {e}"
    return ExportedBatch(paths, failed, [k for k, _ in rungs if k in paths], quantize_s)
