"""Small hostile ONNX models for the agent's tests (each a few hundred bytes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def huge_input(path: Path, elements: int = 2**28) -> Path:
    """One Relu over a declared input of ``elements`` floats."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, elements])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, elements])
    return _save(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]), path)


def constant_of_shape(path: Path, elements: int = 2**29, computed: bool = False) -> Path:
    """ConstantOfShape to [elements]: only shape inference shows the size (the output is symbolic);
    ``computed``: the shape is a product made at run time, which inference does not see either."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["c"]), helper.make_node("Add", ["c", "x"], ["y"])]
    if computed:
        inits = [numpy_helper.from_array(np.array([elements // 2], np.int64), "h")]
        inits.append(numpy_helper.from_array(np.array([2], np.int64), "two"))
        nodes.insert(0, helper.make_node("Mul", ["h", "two"], ["s"]))
    else:
        inits = [numpy_helper.from_array(np.array([elements], np.int64), "s")]
    return _save(helper.make_graph(nodes, "g", [x], [y], initializer=inits), path)


def endless_loop(path: Path, computed: bool = True) -> Path:
    """A Loop of 2**62 trips; ``computed``: the trip count is a product at run time (no static check sees it)."""
    cond = helper.make_tensor_value_info
    body = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["co"]), helper.make_node("Neg", ["v"], ["vo"])],
        "body",
        [cond("i", TensorProto.INT64, []), cond("c", TensorProto.BOOL, []), cond("v", TensorProto.FLOAT, [1])],
        [cond("co", TensorProto.BOOL, []), cond("vo", TensorProto.FLOAT, [1])],
    )
    inits = [numpy_helper.from_array(np.array(True), "C")]
    if computed:
        inits.append(numpy_helper.from_array(np.array(2**31, np.int64), "h"))
        nodes = [helper.make_node("Mul", ["h", "h"], ["M"])]
    else:
        inits.append(numpy_helper.from_array(np.array(2**62, np.int64), "M"))
        nodes = []
    nodes.append(helper.make_node("Loop", ["M", "C", "x"], ["y"], body=body))
    x, y = cond("x", TensorProto.FLOAT, [1]), cond("y", TensorProto.FLOAT, [1])
    return _save(helper.make_graph(nodes, "g", [x], [y], initializer=inits), path)


def relu(path: Path) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])
    return _save(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]), path)
