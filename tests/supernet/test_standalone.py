"""The subnet on its own: safetensors (and torch.export) files that hwnas.load_model rebuilds without the
supernet, giving the logits ONNX Runtime gives for the ONNX export of the same subnet."""

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import save_file

import hwnas
from hwnas.core.errors import ConfigError
from hwnas.data.bundled import mnist_split
from hwnas.pipelines.export import export_subnet
from hwnas.supernet import Supernet, save_checkpoint
from hwnas.supernet.standalone import build_static, read_metadata
from tests.spaces import mnist_tiny


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(3)
    net = Supernet(mnist_tiny())
    path = tmp_path_factory.mktemp("ckpt") / "supernet.pt"
    save_checkpoint(net, path, train={"data": "mnist"})
    return path


@pytest.mark.parametrize("subnet", ["max", "min"])
def test_safetensors_logits_equal_onnx_runtime_on_16_test_images(checkpoint, tmp_path, subnet):
    st = export_subnet(subnet, tmp_path / "m.safetensors", checkpoint=checkpoint, format="safetensors")
    onnx = export_subnet(subnet, tmp_path / "m.onnx", checkpoint=checkpoint, dynamic_batch=True)
    images = mnist_split("test")[0][:16]
    model = hwnas.load_model(st.path)
    with torch.no_grad():
        logits = model(images).numpy()
    session = ort.InferenceSession(str(onnx.path), providers=["CPUExecutionProvider"])
    reference = session.run(None, {"image": images.numpy()})[0]
    assert logits.shape == (16, 10)
    assert np.abs(logits - reference).max() <= 1e-5
    assert st.max_abs_diff == 0.0  # the file holds exactly the extracted weights
    meta = read_metadata(st.path)
    assert meta["subnet"] == st.key and meta["data"] == "mnist" and meta["hwnas_version"] == hwnas.__version__


def test_torch_export_program_loads_as_a_module_with_the_same_logits(checkpoint, tmp_path):
    pt2 = export_subnet("min", tmp_path / "m.pt2", checkpoint=checkpoint, format="torch", batch_size=4)
    st = export_subnet("min", tmp_path / "m.safetensors", checkpoint=checkpoint)  # format from the suffix
    images = mnist_split("test")[0][:4]
    with torch.no_grad():
        a, b = hwnas.load_model(pt2.path)(images), hwnas.load_model(st.path)(images)
    assert pt2.format == "torch" and st.format == "safetensors"
    assert torch.allclose(a, b, atol=1e-5)


def test_build_static_has_the_shapes_extract_gives(checkpoint):
    space = mnist_tiny()
    for cfg in (space.max_config(), space.min_config()):
        extracted = Supernet(space).extract(cfg).state_dict()
        built = build_static(space, cfg).state_dict()
        assert {k: v.shape for k, v in built.items()} == {k: v.shape for k, v in extracted.items()}


def test_files_without_hwnas_metadata_are_refused_in_one_line(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain), metadata={"note": "not hwnas"})
    with pytest.raises(ConfigError, match="without hwnas metadata"):
        hwnas.load_model(plain)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(ConfigError, match="not a safetensors file") as e:
        hwnas.load_model(garbage)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="ONNX"):
        hwnas.load_model(tmp_path / "m.onnx")


def test_onnx_options_are_refused_for_the_torch_formats(checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="ONNX options"):
        export_subnet("min", tmp_path / "m.safetensors", checkpoint=checkpoint, fp16=True)
    assert not (tmp_path / "m.safetensors").exists()
