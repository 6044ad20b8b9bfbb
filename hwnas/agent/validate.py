"""What the agent accepts: an ONNX model that ``onnx.checker`` passes, built only from the standard
operator domains, with every tensor stored inside the file (external data would name paths on the agent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


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


def check_model(path: str | Path) -> None:
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
