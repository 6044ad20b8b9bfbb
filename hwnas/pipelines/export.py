"""Subnet -> static module -> ONNX, checked against torch under ONNX Runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError
from hwnas.core.resolve import resolve_subnet
from hwnas.core.space import SearchSpace

OPSETS = (17, 20)  # the opsets the exported graphs are tested in (ONNX Runtime and TensorRT 10 read them)


@dataclass
class ExportResult:
    path: Path
    key: str
    space: str
    params: int
    max_abs_diff: float  # largest |ONNX Runtime - torch| logit on a seeded random batch

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


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
) -> ExportResult:
    """Export and verify: the file, the subnet's key and parameters, and the ONNX Runtime - torch gap."""
    if opset is not None and not OPSETS[0] <= opset <= OPSETS[1]:
        raise ConfigError(
            f"opset {opset} is not supported: hwnas exports opsets {OPSETS[0]} to {OPSETS[1]} "
            "(LayerNormalization needs 17; TensorRT 10 reads up to 20)"
        )
    import onnxruntime as ort
    import torch

    from hwnas.supernet.export import DEFAULT_OPSET, INPUT_NAME, export_onnx
    from hwnas.supernet.resolve import resolve_space, supernet_for

    if not isinstance(space, SearchSpace):  # a checkpoint is read once, below, and brings its own space
        space = resolve_space(space, subnet if isinstance(subnet, str) else None, default=checkpoint is None)
    net = supernet_for(space, checkpoint)
    space = net.space
    cfg = resolve_subnet(space, subnet)
    static = net.extract(cfg).eval()
    path = export_onnx(
        static, out, batch_size=batch_size, dynamic_batch=dynamic_batch, opset=opset or DEFAULT_OPSET, fp16=fp16
    )
    x = torch.randn(
        batch_size, space.in_chans, space.img_size, space.img_size, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        ref = static(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {INPUT_NAME: x.numpy().astype(np.float16 if fp16 else np.float32)})[0]
    return ExportResult(
        path=Path(path),
        key=cfg.key(),
        space=space.name,
        params=sum(p.numel() for p in static.parameters()),
        max_abs_diff=float(np.abs(got.astype(np.float32) - ref).max()),
    )
