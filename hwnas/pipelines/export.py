"""Subnet -> static module -> a model file (ONNX, safetensors or a torch.export program), checked
against the static module by loading the file back; with ``card``, MODEL.md beside it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.resolve import resolve_subnet
from hwnas.core.space import SearchSpace

OPSETS = (17, 20)  # the opsets the exported graphs are tested in (ONNX Runtime and TensorRT 10 read them)
# onnx: for ONNX Runtime / TensorRT; safetensors: weights + architecture for hwnas.load_model (PyTorch,
# nothing pickled); torch: a torch.export program (.pt2), loadable without any Python model code
FORMATS = ("onnx", "safetensors", "torch")
SUFFIXES = dict(zip(FORMATS, (".onnx", ".safetensors", ".pt2")))  # format -> file suffix


@dataclass
class ExportResult:
    path: Path
    key: str
    space: str
    params: int
    max_abs_diff: float  # largest |file's logits - the static module's| on a seeded random batch
    format: str = "onnx"
    card: Path | None = None  # MODEL.md written beside the file

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path), "card": None if self.card is None else str(self.card)}


def format_of(out: str | Path | None, given: str | None) -> str:
    """``given``, else the one ``out``'s suffix names, else onnx."""
    if given is not None:
        if given not in FORMATS:
            raise ConfigError(f"unknown format {given!r}; known: {', '.join(FORMATS)}")
        return given
    suffix = Path(out).suffix if out else ""
    return next((f for f, s in SUFFIXES.items() if s == suffix), "onnx")


def export_subnet(
    subnet: str | SubnetConfig,
    out: str | Path,
    *,
    space: str | SearchSpace | None = None,
    checkpoint: str | Path | None = None,
    batch_size: int = 1,
    dynamic_batch: bool = False,
    opset: int | None = None,
    fp16: bool = False,
    format: str | None = None,
    card: bool = False,
) -> ExportResult:
    """Export and verify: the file, the subnet's key and parameters, and the file - torch gap. ``format``
    defaults to the one ``out``'s suffix names (else onnx); ``card`` writes MODEL.md beside the file."""
    format = format_of(out, format)
    if opset is not None and not OPSETS[0] <= opset <= OPSETS[1]:
        raise ConfigError(
            f"opset {opset} is not supported: hwnas exports opsets {OPSETS[0]} to {OPSETS[1]} "
            "(LayerNormalization needs 17; TensorRT 10 reads up to 20)"
        )
    if format != "onnx" and (fp16 or dynamic_batch or opset):
        raise ConfigError(f"--fp16, --dynamic-batch and --opset are ONNX options, not for --format {format}")
    import torch

    from hwnas.supernet.resolve import resolve_space

    if not isinstance(space, SearchSpace):  # a checkpoint is read once, below, and brings its own space
        space = resolve_space(space, subnet if isinstance(subnet, str) else None, default=checkpoint is None)
    net, data = _supernet(space, checkpoint)
    the_space: SearchSpace = net.space
    cfg = resolve_subnet(the_space, subnet)
    static = net.extract(cfg).eval()
    x = torch.randn(
        batch_size,
        the_space.in_chans,
        the_space.img_size,
        the_space.img_size,
        generator=torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        ref = static(x).numpy()
    if format == "onnx":
        path, got = _onnx(static, out, x, batch_size, dynamic_batch, opset, fp16)
    else:
        path, got = _torch_side(static, out, x, format, batch_size, data)
    result = ExportResult(
        path=Path(path),
        key=cfg.key(),
        space=the_space.name,
        params=sum(p.numel() for p in static.parameters()),
        max_abs_diff=float(np.abs(got.astype(np.float32) - ref).max()),
        format=format,
    )
    if card:
        result.card = _write_card(result, subnet, the_space, cfg, checkpoint, data)
    return result


def _supernet(space: SearchSpace | None, checkpoint: str | Path | None) -> tuple[Any, str | None]:
    """The supernet (eval mode) and the data its checkpoint was trained on (None: unknown)."""
    from hwnas.supernet.resolve import supernet_for

    if not checkpoint:
        return supernet_for(space), None
    from hwnas.supernet.checkpoint import load_supernet

    net, ckpt = load_supernet(checkpoint, space)
    train = ckpt.get("train")
    data = train.get("data") if isinstance(train, dict) else None
    return net.eval(), data if isinstance(data, str) else None


def _onnx(
    static: Any, out: str | Path, x: Any, batch_size: int, dynamic_batch: bool, opset: int | None, fp16: bool
) -> tuple[Path, np.ndarray]:
    import onnxruntime as ort

    from hwnas.supernet.export import DEFAULT_OPSET, INPUT_NAME, export_onnx

    path = export_onnx(
        static, out, batch_size=batch_size, dynamic_batch=dynamic_batch, opset=opset or DEFAULT_OPSET, fp16=fp16
    )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return path, sess.run(None, {INPUT_NAME: x.numpy().astype(np.float16 if fp16 else np.float32)})[0]


def _torch_side(
    static: Any, out: str | Path, x: Any, format: str, batch_size: int, data: str | None
) -> tuple[Path, np.ndarray]:
    """Write the safetensors file or the torch.export program, then load it back as users will."""
    import torch

    from hwnas.supernet.standalone import load_model, save_standalone

    if format == "safetensors":
        path = save_standalone(static, out, data=data)
    else:
        from hwnas.supernet.export_torch import export_torch

        path = export_torch(static, out, batch_size=batch_size)
    with torch.no_grad():
        return path, load_model(path)(x).numpy()


def _write_card(
    r: ExportResult,
    subnet: str | SubnetConfig,
    space: SearchSpace,
    cfg: SubnetConfig,
    checkpoint: str | Path | None,
    data: str | None,
) -> Path:
    """MODEL.md beside the file: from the search report beside the subnet's YAML when it describes this
    subnet (a search winner), else from what the export knows."""
    from hwnas.pipelines.model_card import REPORT_FILE, CardInputs, read_report, search_inputs, write_card

    folder = r.path.parent
    subnet_file = Path(subnet) if isinstance(subnet, str) and Path(subnet).is_file() else None
    report = read_report(subnet_file.parent / REPORT_FILE, cfg, space) if subnet_file else None
    files = [r.path.name]
    if report is not None and subnet_file is not None:  # with the winner's files that lie beside this one
        files = sorted({*files, *(p.name for p in folder.glob(f"{subnet_file.stem}.*") if p.suffix != ".tmp")})
        space = replace(space, name=report["space"])  # a subnet YAML names its space after itself
        inputs = search_inputs(report, space, data, files, subnet_file.parent.parent)  # RUN/search/winner.yaml
    else:
        inputs = CardInputs(data=data, files=files)
        if checkpoint:
            inputs.weights = f"inherited from the supernet checkpoint {Path(checkpoint).name}, not retrained"
    return write_card(folder, space, cfg, inputs)
