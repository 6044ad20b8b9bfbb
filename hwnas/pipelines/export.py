"""Subnet -> static module -> ONNX, checked against torch under ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwnas.core import presets
from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.core.yaml_io import load_space_file, load_subnet, read_yaml


def resolve_subnet(space: SearchSpace, spec: str | SubnetConfig) -> SubnetConfig:
    """'max', 'min', a RETRAIN YAML path or a config; validated (warns when outside the choices)."""
    if isinstance(spec, SubnetConfig):
        cfg = spec
    elif spec in ("max", "min"):
        cfg = space.max_config() if spec == "max" else space.min_config()
    else:
        cfg = load_subnet(spec)
    return space.validate(cfg)


def resolve_space(space: str | None, subnet: str | None = None, checkpoint: str | Path | None = None,
                  default: bool = True) -> SearchSpace | None:
    """--space if given; else the space saved with the subnet YAML or in an hwnas checkpoint;
    else the default preset (or None with ``default=False``)."""
    if space:
        return presets.get(space)
    if subnet and subnet not in ("max", "min") and "SUPERNET" in read_yaml(subnet):
        return load_space_file(subnet)
    if checkpoint:
        from hwnas.supernet.checkpoint import FORMAT, safe_load
        from hwnas.core.yaml_io import space_from_dict

        ckpt = safe_load(checkpoint)
        if ckpt.get("format") == FORMAT:
            return space_from_dict(ckpt["space"], name=ckpt.get("space_name", "checkpoint"))
    return presets.get(presets.DEFAULT_SPACE) if default else None


def supernet_for(space: SearchSpace | None, checkpoint: str | Path | None = None, seed: int = 0):
    """The supernet in eval mode: the checkpoint's weights (its own space if ``space`` is None), or a
    seeded random initialisation of ``space`` (default: the default preset)."""
    import torch

    from hwnas.supernet import Supernet, load_supernet

    if checkpoint:
        net, _ = load_supernet(checkpoint, space)
    else:
        torch.manual_seed(seed)
        net = Supernet(space or presets.get(presets.DEFAULT_SPACE))
    return net.eval()


def export_subnet(subnet: str | SubnetConfig, out: str | Path, *, space: str | SearchSpace | None = None,
                  checkpoint: str | Path | None = None, batch_size: int = 1, dynamic_batch: bool = False,
                  opset: int | None = None, fp16: bool = False) -> dict[str, Any]:
    """Export and verify; returns path, key, params and the largest |ONNX Runtime - torch| logit gap."""
    import onnxruntime as ort
    import torch

    from hwnas.supernet.export import DEFAULT_OPSET, INPUT_NAME, export_onnx

    if not isinstance(space, SearchSpace):  # a checkpoint is read once, below, and brings its own space
        space = resolve_space(space, subnet if isinstance(subnet, str) else None, default=checkpoint is None)
    net = supernet_for(space, checkpoint)
    space = net.space
    cfg = resolve_subnet(space, subnet)
    static = net.extract(cfg).eval()
    path = export_onnx(static, out, batch_size=batch_size, dynamic_batch=dynamic_batch,
                       opset=opset or DEFAULT_OPSET, fp16=fp16)
    x = torch.randn(batch_size, space.in_chans, space.img_size, space.img_size,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = static(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {INPUT_NAME: x.numpy().astype(np.float16 if fp16 else np.float32)})[0]
    return {"path": str(path), "key": cfg.key(), "space": space.name,
            "params": sum(p.numel() for p in static.parameters()),
            "max_abs_diff": float(np.abs(got.astype(np.float32) - ref).max())}
