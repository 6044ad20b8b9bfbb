"""INT8 deployment with ONNX Runtime's quantization tools: both modes on a real subnet, a model that does not
quantize, and the calibration set's checks."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper
from PIL import Image

from hwnas import devices
from hwnas.core import presets
from hwnas.core.errors import ConfigError
from hwnas.core.space import SearchSpace
from hwnas.data.bundled import mnist_split
from hwnas.profiling.quantize import QuantizationError, calibration_images, deploy_onnx, quantized_ops
from hwnas.supernet.export import export_onnx
from hwnas.supernet.supernet import Supernet

MNIST = presets.get("mnist-cpu")
STATIC = devices.get("cpu-int8").with_(name="int8-64", calibration=64)  # fewer images: a quicker test


@pytest.fixture(scope="module")
def fp32_model(tmp_path_factory) -> Path:
    """mnist-cpu's smallest subnet, seeded random weights (1.1 MB of FP32 weights)."""
    torch.manual_seed(0)
    static = Supernet(MNIST).extract(MNIST.min_config()).eval()
    return export_onnx(static, tmp_path_factory.mktemp("q") / "fp32.onnx")


@pytest.fixture(scope="module")
def calibration() -> np.ndarray:
    return calibration_images(MNIST, "mnist", 64, seed=0)


def _logits(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"image": x[i : i + 1]})[0] for i in range(len(x))])


@pytest.mark.parametrize("name", ["int8-static", "int8-dynamic"])
def test_quantized_model_is_smaller_runs_and_stays_close(tmp_path, fp32_model, calibration, name):
    device = STATIC if name == "int8-static" else devices.get("cpu-int8-dynamic")
    before = fp32_model.read_bytes()
    out = deploy_onnx(fp32_model, tmp_path / "int8.onnx", device, calibration)
    assert out.path == tmp_path / "int8.onnx" and out.precision == name and out.quantize_s > 0
    assert fp32_model.read_bytes() == before  # the FP32 twin is untouched
    assert out.path.stat().st_size < 0.6 * fp32_model.stat().st_size  # weights in 8 bits, not 32
    ops = quantized_ops(out.path)
    assert ops.get("QuantizeLinear" if name == "int8-static" else "MatMulInteger", 0) > 0, ops
    meta = {p.key: p.value for p in onnx.load(str(out.path)).metadata_props}
    assert meta["precision"] == name and meta["subnet_key"] == MNIST.min_config().key()
    x = mnist_split("val")[0][:16].numpy()
    ref, got = _logits(fp32_model, x), _logits(out.path, x)
    assert not np.allclose(ref, got, atol=1e-6)  # really another model ...
    assert np.corrcoef(ref.ravel(), got.ravel())[0, 1] > 0.9  # ... computing nearly the same function


def test_fp32_device_measures_the_fp32_file_itself(tmp_path, fp32_model):
    out = deploy_onnx(fp32_model, tmp_path / "unused.onnx", devices.get("cpu"), None)
    assert (out.path, out.quantize_s, out.precision) == (fp32_model, 0.0, "fp32")
    assert not (tmp_path / "unused.onnx").exists()


def _unrunnable_model(path: Path) -> Path:
    """An image input, a MatMul with a weight (quantizable), then an operator no ONNX Runtime implements."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [8, 8], np.random.default_rng(0).standard_normal(64).tolist())
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["image", "w"], ["h"]),
            helper.make_node("Mystery", ["h"], ["logits"], domain="x.y"),
        ],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1, 1, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, 1, 8])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("x.y", 1)])
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("device", [STATIC, devices.get("cpu-int8-dynamic")], ids=lambda d: d.precision)
def test_a_model_that_does_not_quantize_is_one_clear_error(tmp_path, device, monkeypatch):
    monkeypatch.chdir(tmp_path)  # ONNX Runtime's shape inference gives up here, and saves into the cwd
    bad = _unrunnable_model(tmp_path / "bad.onnx")
    images = np.random.default_rng(0).standard_normal((64, 1, 1, 8)).astype(np.float32)
    with pytest.raises(QuantizationError) as e:
        deploy_onnx(bad, tmp_path / "int8.onnx", device, images)
    msg = str(e.value)
    assert msg.startswith(f"{device.precision} quantization of bad.onnx failed:") and "\n" not in msg
    assert "Mystery" in msg  # the reason names what went wrong
    assert [p.name for p in tmp_path.iterdir()] == ["bad.onnx"]  # no model, no work files left, not even there


def test_static_quantization_checks_its_calibration_images(tmp_path, fp32_model, calibration):
    out = tmp_path / "int8.onnx"
    with pytest.raises(ConfigError, match="needs calibration images"):
        deploy_onnx(fp32_model, out, STATIC, None)
    with pytest.raises(ConfigError, match="calibrates on 64 images; the calibration set has 40"):
        deploy_onnx(fp32_model, out, STATIC, calibration[:40])
    rgb = np.zeros((64, 3, 224, 224), np.float32)
    with pytest.raises(ConfigError, match=r"do not fit the model's input \(1, 28, 28\).*another space"):
        deploy_onnx(fp32_model, out, STATIC, rgb)
    with pytest.raises(ConfigError, match="beside the FP32 one"):
        deploy_onnx(fp32_model, fp32_model, STATIC, calibration)
    assert not out.exists()


def test_calibration_images_are_training_images_normalised_as_training_does():
    x = calibration_images(MNIST, "mnist", 32, seed=3)
    train = mnist_split("train")[0].numpy()
    assert x.shape == (32, 1, 28, 28) and x.dtype == np.float32
    assert all((train == img).all(axis=(1, 2, 3)).any() for img in x)  # each one a training image
    assert np.array_equal(x, calibration_images(MNIST, "mnist", 32, seed=3))
    assert not np.array_equal(x, calibration_images(MNIST, "mnist", 32, seed=4))


def test_calibration_set_too_small_or_too_large_is_one_line():
    with pytest.raises(ConfigError, match="8 images is too small"):
        calibration_images(MNIST, "mnist", 8)
    with pytest.raises(ConfigError, match="4000 training images; the calibration set needs 5000"):
        calibration_images(MNIST, "mnist", 5000)


def test_calibration_for_other_image_sizes_resizes_the_digits():
    tiny = presets.get("autoformer-tiny")
    x = calibration_images(tiny, "mnist", 32)
    assert x.shape == (32, 3, 224, 224) and np.isfinite(x).all()
    # grey digits replicated to RGB, then ImageNet-normalised per channel
    assert np.allclose(x[:, 0] * 0.229 + 0.485, x[:, 1] * 0.224 + 0.456, atol=1e-5)
    assert x[:, 0].std() > 0.5  # digits, not a blank


def test_calibration_from_an_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(25):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    space = SearchSpace(
        embed_dim=(16,), depth=(1,), mlp_ratio=(1.0,), num_heads=(1,), super_embed_dim=16, super_depth=1,
        super_mlp_ratio=1.0, super_num_heads=1, img_size=32, patch_size=8, in_chans=3, num_classes=2, head_dim=8,
        max_relative_position=4,
    )  # fmt: skip
    x = calibration_images(space, str(tmp_path), 32)
    assert x.shape == (32, 3, 32, 32) and x.dtype == np.float32 and abs(float(x.mean())) < 1.0
    with pytest.raises(ConfigError, match="40 training images; the calibration set needs 64"):
        calibration_images(space, str(tmp_path), 64)
