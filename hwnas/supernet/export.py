"""Export a static subnet to ONNX (TorchScript exporter: 4-7x faster than dynamo here, same graph)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import onnx
import torch

import hwnas
from hwnas.core.atomic import atomic_write
from hwnas.supernet.vit import StaticViT

# Accepted by current ONNX Runtime and by TensorRT 10 / 11; the first opset with LayerNormalization.
DEFAULT_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "image", "logits"
# Ops that take a sub-range of their data input; none may take a weight (initializer) as data.
SLICING_OPS = {"Slice", "Split", "Gather", "GatherElements", "GatherND"}
# The exception: the relative-position tables are looked up by constant token-pair indices, an
# embedding lookup (folding it would store an (N, N, head_dim) tensor per table, 10 MB each at 224x224).
TABLE_LOOKUP_SUFFIXES = ("embeddings_table_v", "embeddings_table_h")


def export_onnx(model: StaticViT, path: str | Path, *, batch_size: int = 1, dynamic_batch: bool = False,
                opset: int = DEFAULT_OPSET, fp16: bool = False) -> Path:
    """Write ``model`` as ONNX to ``path`` atomically, check it, and return the path.

    ``fp16`` exports half-precision weights and activations (TensorRT 11 takes precision from the model).
    """
    if not isinstance(model, StaticViT):
        raise TypeError("export the static subnet (Supernet.extract(cfg)), never the supernet itself")
    space, path = model.space, Path(path)
    was_training = model.training
    model = model.eval()
    dtype = torch.float16 if fp16 else torch.float32
    export_model = model.to(dtype) if fp16 else model
    dummy = torch.zeros(batch_size, space.in_chans, space.img_size, space.img_size, dtype=dtype)
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(export_model, (dummy,), buf, dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes=axes, do_constant_folding=True)
    finally:
        if fp16:
            model.float()
        model.train(was_training)
    proto = onnx.load_model_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    meta = {"hwnas_version": hwnas.__version__, "subnet_key": model.config.key(),
            "space": space.name, "space_digest": space.digest(), "precision": "fp16" if fp16 else "fp32"}
    onnx.helper.set_model_props(proto, meta)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return path


def weight_slicing_nodes(proto: onnx.ModelProto) -> list[str]:
    """Nodes that slice a weight at run time (should be none), as 'OpType(input)' strings."""
    inits = {i.name for i in proto.graph.initializer}
    bad = []
    for node in proto.graph.node:
        if node.op_type in SLICING_OPS and node.input and node.input[0] in inits:
            if node.op_type == "Gather" and node.input[0].endswith(TABLE_LOOKUP_SUFFIXES):
                continue
            bad.append(f"{node.op_type}({node.input[0]})")
    return bad
