"""A subnet as a device ships it: exported (and quantized) for the device, run by the device's runtime on
the validation images, its top-1 beside the FP32 subnet's (inherited weights, torch), image by image.

The per-image hit vectors let the search compare finalists paired, as it does today
(:mod:`hwnas.search.significance`). :class:`DeployedScorer` loads the supernet, the images and the
calibration set once and scores any number of subnets; :func:`deployed_accuracy` scores one.

Deployed forms (:func:`deploy_subnet`): the torch runtime measures a ``torch.export`` program (``.pt2``);
every other runtime an ONNX file, which INT8 devices quantize (:mod:`hwnas.profiling.quantize`) and keep
beside their FP32 twin (``NAME.fp32.onnx``). The device's backend runs the deployed model for scoring
(``Backend.logits``: ONNX Runtime on the CPU, torch; TensorRT does not score here), at the device's batch
size: dynamic INT8 quantizes activations per batch, so the batch changes its numbers.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.resolve import resolve_subnet
from hwnas.core.space import SearchSpace
from hwnas.devices import Device
from hwnas.devices import get as get_device
from hwnas.profiling.backends import backend_for

if TYPE_CHECKING:
    from hwnas.supernet.supernet import Supernet
    from hwnas.supernet.vit import StaticViT

EVAL_BATCH = 256  # images per torch batch (the FP32 reference), split into device-sized runs


@dataclass(frozen=True)
class DeployedModel:
    """The file a device measures, its FP32 twin (the same file for FP32 devices) and the quantization time."""

    path: Path
    fp32_path: Path
    quantize_s: float
    precision: str


@dataclass
class DeployedAccuracy:
    """One subnet's top-1 in FP32 and as deployed on a device, on the same images."""

    key: str
    device: str
    precision: str
    data: str
    split: str
    n: int
    fp32_top1: float  # percent; the inherited weights in torch, FP32
    deployed_top1: float  # percent; the deployed model in the device's runtime
    agreement: float  # percent of images whose top-1 prediction is the same in both
    mcnemar_p: float  # exact McNemar test of the two hit vectors (1.0 when they never disagree)
    quantize_s: float
    fp32_hits: np.ndarray = field(repr=False)  # bool per image: FP32 top-1 is right
    deployed_hits: np.ndarray = field(repr=False)  # bool per image: deployed top-1 is right

    @property
    def drop(self) -> float:
        """FP32 minus deployed top-1, in points (positive: the deployed form is less accurate)."""
        return self.fp32_top1 - self.deployed_top1

    def to_dict(self, hits: bool = False) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if not k.endswith("_hits")}
        out["drop"] = self.drop
        if hits:
            out["fp32_hits"] = self.fp32_hits.tolist()
            out["deployed_hits"] = self.deployed_hits.tolist()
        return out


def model_suffix(device: Device) -> str:
    """The file suffix of ``device``'s deployed form: ``.onnx``, or ``.pt2`` for the torch runtime."""
    return backend_for(device).model_suffix


def fp32_twin(path: Path) -> Path:
    """Where an INT8 model's FP32 twin is written: ``NAME.fp32.onnx`` beside ``NAME.onnx``."""
    return path.with_name(f"{path.stem}.fp32{path.suffix}")


def deploy_subnet(static: StaticViT, out: str | Path, device: Device, calibration: np.ndarray | None) -> DeployedModel:
    """Write ``static`` in ``device``'s deployed form at ``out`` (suffix :func:`model_suffix`), for the
    device's batch size; an INT8 model with its FP32 twin beside it. ``calibration``: images for
    int8-static devices (:func:`hwnas.profiling.quantize.calibration_images`)."""
    out = Path(out)
    if out.suffix != model_suffix(device):
        raise ConfigError(
            f"device {device.name!r} runs {model_suffix(device)} files; name the output {out.stem}"
            f"{model_suffix(device)}"
        )
    if out.suffix == ".pt2":
        from hwnas.supernet.export_torch import export_torch

        path = export_torch(static, out, batch_size=device.batch_size)
        return DeployedModel(path, path, 0.0, device.precision)
    from hwnas.profiling.quantize import deploy_onnx
    from hwnas.supernet.export import export_onnx

    fp32 = fp32_twin(out) if device.quantized else out
    export_onnx(static, fp32, batch_size=device.batch_size, fp16=device.precision == "fp16")
    deployed = deploy_onnx(fp32, out, device, calibration)
    return DeployedModel(deployed.path, fp32, deployed.quantize_s, device.precision)


class DeployedScorer:
    """Deployed and FP32 top-1 of subnets of one supernet on one device, on one split's images.

    ``checkpoint`` None: the supernet's seeded random weights (latency work; accuracy is then chance).
    ``data`` defaults to what the checkpoint was trained on, else the bundled MNIST; int8-static devices
    calibrate on ``device.calibration`` of its training images (drawn with ``seed``). ``subset``: score the
    fixed sample of that many images of the split that the search's fitness scores (all by default)."""

    def __init__(
        self,
        device: Device | str,
        checkpoint: str | Path | None = None,
        space: SearchSpace | None = None,
        data: str | None = None,
        split: str = "val",
        seed: int = 0,
        subset: int | None = None,
    ) -> None:
        from torch.utils.data import TensorDataset

        from hwnas.data import check_split, load_split
        from hwnas.pipelines.fitness import split_tensors
        from hwnas.profiling.quantize import calibration_images

        self.device = get_device(device)
        check_split(split)
        self.net, trained_on = _supernet(space, checkpoint, seed)
        self.space: SearchSpace = self.net.space
        self.data, self.split = data or trained_on, split
        self.dataset = (
            load_split(self.data, split, self.space)
            if subset is None
            else TensorDataset(*split_tensors(self.space, self.data, split, subset))
        )
        self.calibration = (
            calibration_images(self.space, self.data, self.device.calibration, seed)
            if self.device.precision == "int8-static"
            else None
        )

    def score(
        self, subnet: SubnetConfig | str, folder: str | Path | None = None, deployed: str | Path | None = None
    ) -> DeployedAccuracy:
        """Deploy ``subnet`` (into ``folder``, kept; else a temporary one) and score both forms. ``deployed``:
        a file already in the device's form (e.g. the one profiling measured), scored instead."""
        from hwnas.search.significance import mcnemar_p

        cfg = resolve_subnet(self.space, subnet)
        static = self.net.extract(cfg).eval()
        with tempfile.TemporaryDirectory(prefix="hwnas-deployed-") as tmp:
            where = Path(folder) if folder is not None else Path(tmp)
            model = (
                DeployedModel(Path(deployed), Path(deployed), 0.0, self.device.precision)
                if deployed is not None
                else deploy_subnet(
                    static, where / f"{cfg.key()}{model_suffix(self.device)}", self.device, self.calibration
                )
            )
            fp32_hits, deployed_hits, same = self._predictions(static, model.path)
        return DeployedAccuracy(
            key=cfg.key(),
            device=self.device.name,
            precision=self.device.precision,
            data=self.data,
            split=self.split,
            n=int(fp32_hits.size),
            fp32_top1=100.0 * float(fp32_hits.mean()),
            deployed_top1=100.0 * float(deployed_hits.mean()),
            agreement=100.0 * float(same.mean()),
            mcnemar_p=mcnemar_p(fp32_hits, deployed_hits),
            quantize_s=model.quantize_s,
            fp32_hits=fp32_hits,
            deployed_hits=deployed_hits,
        )

    def fp32_hits(self, subnet: SubnetConfig | str) -> np.ndarray:
        """Per image of the split: is the FP32 subnet's top-1 (inherited weights, torch) right?"""
        import torch

        from hwnas.data import batches

        static = self.net.extract(resolve_subnet(self.space, subnet)).eval()
        hits = []
        with torch.inference_mode():
            for x, y in batches(self.dataset, None, EVAL_BATCH):
                hits.append(static(x).argmax(1).numpy() == y.numpy())
        return np.concatenate(hits)

    def _predictions(self, static: StaticViT, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(FP32 hits, deployed hits, same top-1) per image of the split."""
        import torch

        from hwnas.data import batches

        run = backend_for(self.device).logits(self.device, path)
        fp32_hits, deployed_hits, same = [], [], []
        with torch.inference_mode():
            for x, y in batches(self.dataset, None, EVAL_BATCH):
                ref = static(x).argmax(1).numpy()
                got = _in_batches(run, x.numpy().astype(np.float32), self.device.batch_size).argmax(1)
                labels = y.numpy()
                fp32_hits.append(ref == labels)
                deployed_hits.append(got == labels)
                same.append(ref == got)
        return np.concatenate(fp32_hits), np.concatenate(deployed_hits), np.concatenate(same)


def _supernet(space: SearchSpace | None, checkpoint: str | Path | None, seed: int) -> tuple[Supernet, str]:
    """The supernet (the checkpoint's weights, else seeded random ones) and the data set it was trained on
    ('mnist' when the checkpoint does not say, or for random weights)."""
    from hwnas.supernet.checkpoint import load_supernet
    from hwnas.supernet.resolve import supernet_for

    if checkpoint is None:
        return supernet_for(space, None, seed), "mnist"
    net, ckpt = load_supernet(checkpoint, space)
    train = ckpt.get("train")
    data = train.get("data") if isinstance(train, dict) else None
    return net.eval(), str(data or "mnist")


def _in_batches(run: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch: int) -> np.ndarray:
    """Logits of ``x`` run ``batch`` images at a time (the model's fixed batch); the last batch is filled
    up with copies of its last image, whose outputs are dropped."""
    out = []
    for i in range(0, len(x), batch):
        chunk = x[i : i + batch]
        short = batch - len(chunk)
        if short:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], short, axis=0)])
        out.append(run(np.ascontiguousarray(chunk))[: batch - short])
    return np.concatenate(out)


def export_deployed(
    subnet: SubnetConfig | str,
    out: str | Path,
    device: Device | str,
    space: str | SearchSpace | None = None,
    checkpoint: str | Path | None = None,
    data: str | None = None,
    seed: int = 0,
) -> tuple[str, DeployedModel]:
    """Write ``subnet`` in ``device``'s deployed form (:func:`deploy_subnet`): its key and the files.
    Weights from ``checkpoint``, else seeded random ones; int8-static calibrates on ``data`` (default: what
    the checkpoint was trained on, else the bundled MNIST)."""
    from hwnas.profiling.quantize import calibration_images
    from hwnas.supernet.resolve import resolve_space

    dev = get_device(device)
    if not isinstance(space, SearchSpace):
        space = resolve_space(space, subnet if isinstance(subnet, str) else None, default=checkpoint is None)
    net, trained_on = _supernet(space, checkpoint, seed)
    cfg = resolve_subnet(net.space, subnet)
    images = None
    if dev.precision == "int8-static":
        images = calibration_images(net.space, data or trained_on, dev.calibration, seed)
    return cfg.key(), deploy_subnet(net.extract(cfg).eval(), out, dev, images)


def deployed_accuracy(
    space: SearchSpace | None,
    checkpoint: str | Path | None,
    subnet: SubnetConfig | str,
    device: Device | str,
    data: str | None = None,
    split: str = "val",
    folder: str | Path | None = None,
    seed: int = 0,
) -> DeployedAccuracy:
    """FP32 and deployed top-1 of one subnet on ``device`` (see :class:`DeployedScorer`)."""
    scorer = DeployedScorer(device, checkpoint, space=space, data=data, split=split, seed=seed)
    return scorer.score(subnet, folder=folder)
