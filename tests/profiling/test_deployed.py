"""Accuracy in the deployed form: a trained tiny supernet's subnets scored in FP32 and as INT8 / torch devices
run them (paired hit vectors), through `hwnas eval --device` and `hwnas export --device`."""

import json

import numpy as np
import onnx
import pytest

from hwnas.cli.main import main
from hwnas.pipelines.deployed import DeployedScorer, fp32_twin
from hwnas.pipelines.evaluate import evaluate_checkpoint
from hwnas.supernet.train import TrainConfig, train_supernet
from tests.spaces import mnist_tiny

TINY = mnist_tiny(embed_dim=(32, 64), head_dim=16)  # wide enough to learn digits in 80 steps


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("deployed") / "s.pt"
    train_supernet(TINY, "mnist", ckpt, TrainConfig(threads=1, epochs=2, batch_size=100, lr=3e-3), max_steps=80)
    return ckpt


@pytest.mark.parametrize("device", ["cpu-int8", "cpu-int8-dynamic", "cpu-torch"])
def test_scores_fp32_and_deployed_on_the_same_images(checkpoint, device):
    r = DeployedScorer(device, checkpoint).score("max")
    inherited = evaluate_checkpoint(checkpoint, "max", "val")
    assert (r.n, r.fp32_hits.shape, r.deployed_hits.shape) == (500, (500,), (500,))
    assert r.fp32_top1 == pytest.approx(inherited.top1)  # FP32 is what `hwnas eval` reports
    assert r.fp32_top1 > 25  # learned something (chance: 10)
    assert r.deployed_top1 == pytest.approx(100 * r.deployed_hits.mean())
    if device == "cpu-torch":  # the same FP32 arithmetic, through torch.export
        assert r.agreement == 100.0 and np.array_equal(r.fp32_hits, r.deployed_hits) and r.quantize_s == 0
    else:  # another model, nearly the same predictions
        assert 85 <= r.agreement < 100 and abs(r.drop) < 5 and r.quantize_s > 0
        assert 0 <= r.mcnemar_p <= 1


def test_eval_device_prints_both_accuracies(checkpoint, capsys):
    assert main(["eval", "--checkpoint", str(checkpoint), "--subnet", "min", "--device", "cpu-int8-dynamic"]) == 0
    line = capsys.readouterr().out.strip()
    assert "FP32 top1" in line and "cpu-int8-dynamic (int8-dynamic) top1" in line and "drop" in line
    args = ["eval", "--checkpoint", str(checkpoint), "--subnet", "min", "--device", "cpu-int8-dynamic", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["precision"] == "int8-dynamic" and out["n"] == 500
    assert out["drop"] == pytest.approx(out["fp32_top1"] - out["deployed_top1"])


def test_eval_device_bad_input_is_one_line(checkpoint, capsys):
    assert main(["eval", "--checkpoint", str(checkpoint), "--subnet", "min", "--device", "tpu"]) == 2
    err = capsys.readouterr().err
    assert "unknown device 'tpu'" in err and err.count("\n") == 1


def test_export_device_writes_the_int8_model_with_its_fp32_twin(checkpoint, tmp_path, capsys):
    out = tmp_path / "min.onnx"
    args = ["export", "--checkpoint", str(checkpoint), "--subnet", "min", "--device", "cpu-int8", "--out", str(out)]
    assert main(args) == 0
    assert "FP32 twin" in capsys.readouterr().out
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    twin = {p.key: p.value for p in onnx.load(str(fp32_twin(out))).metadata_props}
    assert (meta["precision"], meta["calibration_images"], twin["precision"]) == ("int8-static", "256", "fp32")
    assert meta["subnet_key"] == twin["subnet_key"] == TINY.min_config().key()


def test_export_device_names_the_file_its_runtime_runs(checkpoint, tmp_path, capsys):
    args = ["export", "--checkpoint", str(checkpoint), "--subnet", "min", "--device", "cpu-torch"]
    assert main([*args, "--out", str(tmp_path / "min.onnx")]) == 2
    assert "runs .pt2 files" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "min.pt2")]) == 0 and (tmp_path / "min.pt2").is_file()
    assert main([*args, "--fp16", "--out", str(tmp_path / "x.pt2")]) == 2
    assert "the device decides" in capsys.readouterr().err
