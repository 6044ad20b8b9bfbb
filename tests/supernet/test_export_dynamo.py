"""The torch.export-based exporter gives the TorchScript exporter's guarantees (see hwnas.supernet.export)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hwnas.core import get_space
from hwnas.supernet import Supernet, export_onnx
from hwnas.supernet.export import MIN_OPSET, weight_slicing_nodes


@pytest.fixture(scope="module")
def static():
    space = get_space("mnist-cpu")
    torch.manual_seed(0)
    return Supernet(space).eval().extract(space.max_config()).eval()


def test_dynamo_export_matches_torch_slices_no_weight_and_has_a_dynamic_batch(static, tmp_path):
    path = export_onnx(static, tmp_path / "d.onnx", dynamic_batch=True, exporter="dynamo")
    proto = onnx.load(path)
    assert weight_slicing_nodes(proto) == []
    assert proto.opset_import[0].version == MIN_OPSET["dynamo"] == 18  # TensorRT 10 parses opsets 9-20
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["exporter"] == "dynamo" and meta["subnet_key"] == static.config.key()
    # the relative-position tables stay tables: not folded into (N, N, head_dim) constants
    assert sum(i.name.endswith("embeddings_table_v") for i in proto.graph.initializer) == 2 * static.config.depth
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for b in (1, 3):
        x = torch.randn(b, 1, 28, 28)
        with torch.no_grad():
            np.testing.assert_allclose(sess.run(None, {"image": x.numpy()})[0], static(x).numpy(), atol=1e-4)


def test_dynamo_exporter_refuses_an_opset_it_cannot_write(static, tmp_path):
    with pytest.raises(ValueError, match="opset 18 or later"):
        export_onnx(static, tmp_path / "d.onnx", opset=17, exporter="dynamo")
    with pytest.raises(ValueError, match="unknown exporter"):
        export_onnx(static, tmp_path / "d.onnx", exporter="jit")  # type: ignore[arg-type]


def test_weight_slicing_detector_sees_through_reshapes_in_a_dynamo_graph(tmp_path):
    class Sliced(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(8, 8))

        def forward(self, x):
            return x @ self.w.t()[:, :4]

    program = torch.onnx.export(
        Sliced(), (torch.randn(2, 8),), None, dynamo=True, optimize=False, external_data=False, verbose=False
    )
    assert weight_slicing_nodes(program.model_proto) != []
