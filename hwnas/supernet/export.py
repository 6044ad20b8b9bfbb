"""Export a static subnet to ONNX, with either of torch's two exporters.

``exporter="torchscript"`` (the default) traces the module (``torch.onnx.export(dynamo=False)``);
``exporter="dynamo"`` captures it with ``torch.export`` and translates that with onnxscript (an extra
package: ``pip install onnxscript``). Both give the guarantees hwnas relies on, checked by the tests:
logits within 1e-4 of the static module under ONNX Runtime, no weight sliced at run time
(:func:`weight_slicing_nodes`), a dynamic batch axis on request, and an opset that ONNX Runtime and
TensorRT 10 (opsets 9-20) accept. They differ in three ways:

- opset: the TorchScript exporter writes opset 17; the dynamo exporter has no implementations below 18
  and its down-conversion fails on these graphs, so it writes 18 (:data:`MIN_OPSET`).
- constant folding: the dynamo exporter's optimizer would fold each relative-position lookup into an
  (N, N, head_dim) constant, so it runs unoptimised (``optimize=False``) and keeps the lookup, as the
  TorchScript graph does; ONNX Runtime and TensorRT optimise the graph when they load it.
- export time: the dynamo exporter is several times slower per subnet, which matters when profiling
  exports every measured subnet.

TorchScript stays the default: ``benchmarks/exporter_compare.py`` found the dynamo graphs slower under
ONNX Runtime and much slower to export (the README's benchmark section keeps the figures). Torch has
announced that the TorchScript exporter will be removed, and then ``dynamo`` is the one left.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Literal

import onnx
import torch

import hwnas
from hwnas.core.atomic import atomic_write
from hwnas.supernet.vit import StaticViT

Exporter = Literal["torchscript", "dynamo"]
EXPORTERS: tuple[Exporter, ...] = ("torchscript", "dynamo")
DEFAULT_EXPORTER: Exporter = "torchscript"
# Accepted by current ONNX Runtime and by TensorRT 10 / 11; the first opset with LayerNormalization.
DEFAULT_OPSET = 17
# The lowest opset per exporter (the dynamo exporter implements none below 18).
MIN_OPSET: dict[str, int] = {"torchscript": 17, "dynamo": 18}
INPUT_NAME, OUTPUT_NAME = "image", "logits"
# Ops that take a sub-range of their data input; none may take a weight (initializer) as data.
SLICING_OPS = {"Slice", "Split", "Gather", "GatherElements", "GatherND"}
# Ops that only reshape or relabel their input: a weight passed through them is still the weight.
PASS_THROUGH_OPS = {"Identity", "Cast", "Transpose", "Reshape", "Squeeze", "Unsqueeze"}
# The exception: the relative-position tables are looked up by constant token-pair indices, an
# embedding lookup (folding it would store an (N, N, head_dim) tensor per table, 10 MB each at 224x224).
TABLE_LOOKUP_OPS = {"Gather", "GatherND"}
TABLE_LOOKUP_SUFFIXES = ("embeddings_table_v", "embeddings_table_h")


def export_onnx(
    model: StaticViT,
    path: str | Path,
    *,
    batch_size: int = 1,
    dynamic_batch: bool = False,
    opset: int | None = None,
    fp16: bool = False,
    exporter: Exporter = DEFAULT_EXPORTER,
) -> Path:
    """Write ``model`` as ONNX to ``path`` atomically, check it, and return the path.

    ``fp16`` exports half-precision weights and activations (TensorRT 11 takes precision from the model).
    ``opset`` defaults to :data:`DEFAULT_OPSET`, raised to the exporter's :data:`MIN_OPSET`.
    """
    if not isinstance(model, StaticViT):
        raise TypeError("export the static subnet (Supernet.extract(cfg)), never the supernet itself")
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}: one of {', '.join(EXPORTERS)}")
    opset = max(DEFAULT_OPSET, MIN_OPSET[exporter]) if opset is None else opset
    if opset < MIN_OPSET[exporter]:
        raise ValueError(f"the {exporter} exporter writes opset {MIN_OPSET[exporter]} or later, not {opset}")
    space, path = model.space, Path(path)
    was_training = model.training
    model = model.eval()
    dtype = torch.float16 if fp16 else torch.float32
    export_model = model.to(dtype) if fp16 else model
    # torch.export specialises a dimension of size 1, so a dynamic batch is traced at batch 2.
    traced_batch = max(batch_size, 2) if dynamic_batch and exporter == "dynamo" else batch_size
    dummy = torch.zeros(traced_batch, space.in_chans, space.img_size, space.img_size, dtype=dtype)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            proto = (
                _dynamo(export_model, dummy, opset, dynamic_batch)
                if exporter == "dynamo"
                else _torchscript(export_model, dummy, opset, dynamic_batch)
            )
    finally:
        if fp16:
            model.float()
        model.train(was_training)
    onnx.checker.check_model(proto)
    meta = {
        "hwnas_version": hwnas.__version__,
        "subnet_key": model.config.key(),
        "space": space.name,
        "space_digest": space.digest(),
        "precision": "fp16" if fp16 else "fp32",
        "exporter": exporter,
    }
    onnx.helper.set_model_props(proto, meta)
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return path


def _torchscript(model: torch.nn.Module, dummy: torch.Tensor, opset: int, dynamic_batch: bool) -> onnx.ModelProto:
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (dummy,),
        buf,  # type: ignore[arg-type]  # the TorchScript exporter writes to file objects too; torch types f as a path
        dynamo=False,
        opset_version=opset,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes=axes,
        do_constant_folding=True,
    )
    return onnx.load_model_from_string(buf.getvalue())


def _dynamo(model: torch.nn.Module, dummy: torch.Tensor, opset: int, dynamic_batch: bool) -> onnx.ModelProto:
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter's translator)
    except ImportError:
        raise ImportError("the dynamo exporter needs onnxscript: pip install onnxscript") from None
    shapes = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    program = torch.onnx.export(
        model,
        (dummy,),
        None,
        dynamo=True,
        opset_version=opset,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=shapes,
        optimize=False,
        external_data=False,
        verbose=False,
    )
    assert program is not None
    return program.model_proto


def weight_slicing_nodes(proto: onnx.ModelProto) -> list[str]:
    """Nodes that slice a weight at run time (should be none), as 'OpType(input)' strings.

    A weight reached through reshaping ops (:data:`PASS_THROUGH_OPS`) counts as the weight itself.
    """
    inits = {i.name for i in proto.graph.initializer}
    producer = {out: node for node in proto.graph.node for out in node.output}

    def source(name: str) -> str:
        while name in producer and producer[name].op_type in PASS_THROUGH_OPS and producer[name].input:
            name = producer[name].input[0]
        return name

    bad = []
    for node in proto.graph.node:
        if node.op_type not in SLICING_OPS or not node.input:
            continue
        src = source(node.input[0])
        if src not in inits:
            continue
        if node.op_type in TABLE_LOOKUP_OPS and src.endswith(TABLE_LOOKUP_SUFFIXES):
            continue
        bad.append(f"{node.op_type}({src})")
    return bad
