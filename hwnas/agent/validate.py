"""What the agent accepts: an ONNX model that ``onnx.checker`` passes, built only from the standard
operator domains, with every tensor stored inside the file (external data would name paths on the agent),
and small enough by what ONNX shape inference shows: no declared input, initialiser or inferred value
over :data:`MAX_ELEMENTS` elements, initialisers together under it, no ``Loop`` with a constant trip
count over :data:`MAX_TRIP_COUNT`. What inference cannot see is bounded by the sandbox's limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
MAX_ELEMENTS = 1 << 26  # elements of one tensor (256 MiB of float32), and of all initialisers together
MAX_TRIP_COUNT = 1 << 20


class RejectedModel(ValueError):
    """The upload is not an acceptable model; the message is one line."""


def _graphs(graph: Any) -> Iterator[Any]:
    """``graph`` and every subgraph of its nodes (If / Loop / Scan bodies)."""
    import onnx

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graphs(g)


def _elements(dims: Any) -> int:
    """Elements of a shape; a symbolic or unknown dimension counts 1 (the runner fixes it to the batch)."""
    n = 1
    for d in dims:
        n *= d if isinstance(d, int) and d > 0 else 1
    return n


def _value_dims(value: Any) -> list[int]:
    t = value.type.tensor_type
    if not t.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") else 0 for d in t.shape.dim]


def check_sizes(model: Any, cap: int = MAX_ELEMENTS) -> None:
    """RejectedModel (one line) if shape inference shows a tensor over ``cap`` elements."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    inits = {t.name for t in graph.initializer}
    for v in graph.input:
        if v.name not in inits and _elements(_value_dims(v)) > cap:
            raise RejectedModel(f"input {v.name[:60]!r} declares {_elements(_value_dims(v)):,} elements (cap {cap:,})")
    total = 0
    for g in _graphs(graph):
        tensors = list(g.initializer) + [a.t for n in g.node for a in n.attribute if a.HasField("t")]
        total += sum(_elements(list(t.dims)) for t in tensors)
        for node in g.node:
            if node.op_type == "Loop" and node.input and node.input[0]:
                consts = {t.name: t for t in g.initializer}
                consts.update({n.output[0]: a.t for n in g.node if n.op_type == "Constant" for a in n.attribute})
                trip = consts.get(node.input[0])
                if (
                    trip is not None
                    and _elements(list(trip.dims)) == 1
                    and int(numpy_helper.to_array(trip).reshape(-1)[0]) > MAX_TRIP_COUNT
                ):
                    raise RejectedModel(f"a Loop runs more than {MAX_TRIP_COUNT:,} times")
    if total > cap:
        raise RejectedModel(f"initialisers hold {total:,} elements (cap {cap:,})")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False)
    except Exception as e:  # noqa: BLE001 - inference is advisory; onnx.checker has the last word
        raise RejectedModel(f"shape inference fails: {wire_line(e)}") from None
    g = inferred.graph
    for v in list(g.value_info) + list(g.output):
        n = _elements(_value_dims(v))
        if n > cap:
            raise RejectedModel(f"value {v.name[:60]!r} would hold {n:,} elements (cap {cap:,})")


def wire_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())[:200]


def check_model(path: str | Path, cap: int = MAX_ELEMENTS) -> None:
    """Raise RejectedModel (one line) unless ``path`` is an acceptable ONNX model."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, OSError) as e:
        raise RejectedModel(f"not an ONNX model ({type(e).__name__})") from None
    if not model.graph.node:
        raise RejectedModel("not an ONNX model (no graph nodes)")
    domains = {op.domain for op in model.opset_import} - STANDARD_DOMAINS
    if model.functions:
        raise RejectedModel("model-local functions are not accepted")
    for g in _graphs(model.graph):
        domains |= {n.domain for n in g.node} - STANDARD_DOMAINS
        for t in list(g.initializer) + [a.t for n in g.node for a in n.attribute if a.HasField("t")]:
            if t.data_location == onnx.TensorProto.EXTERNAL or t.external_data:
                raise RejectedModel("tensors stored outside the model file are not accepted")
    if domains:
        raise RejectedModel(
            f"non-standard operator domain(s) {sorted(domains)}: only the standard ONNX operators are accepted"
        )
    try:
        onnx.checker.check_model(model, full_check=False)
    except onnx.checker.ValidationError as e:
        raise RejectedModel(f"onnx.checker rejects the model: {' '.join(str(e).split())[:200]}") from None
    check_sizes(model, cap)
