"""The CLI as users run it: a real `hwnas` process, its stdout, stderr and exit code."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from hwnas.core import SubnetConfig, count_macs, count_params, get_space
from hwnas.core.yaml_io import save_subnet


def hwnas(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hwnas", *args], capture_output=True, text=True, cwd=cwd)


def test_inspect_json_has_params_and_macs(tmp_path):
    space = get_space("autoformer-tiny")
    cfg = SubnetConfig(
        192,
        13,
        (3.5, 3.5, 3.0, 3.5, 3.0, 3.0, 4.0, 4.0, 3.5, 4.0, 3.5, 4.0, 3.5),
        (3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3),
    )
    save_subnet(cfg, tmp_path / "t.yaml")
    r = hwnas("inspect", "--space", "autoformer-tiny", "--subnet", str(tmp_path / "t.yaml"), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["params"] == 5_867_944 == count_params(space, cfg)
    assert info["macs"] == count_macs(space, cfg)
    assert "outside the choices" in r.stderr  # MLP ratio 3.0 is not in the tiny space: warned, accepted


def test_export_writes_an_onnx_model_that_runs(tmp_path):
    out = tmp_path / "min.onnx"
    r = hwnas("export", "--space", "mnist-cpu", "--subnet", "min", "--out", str(out))
    assert r.returncode == 0, r.stderr
    sess = ort.InferenceSession(str(out))
    logits = sess.run(None, {"image": np.zeros((1, 1, 28, 28), np.float32)})[0]
    assert logits.shape == (1, 10)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    import torch

    from hwnas.supernet import Supernet, save_checkpoint

    d = tmp_path_factory.mktemp("bad")
    (d / "bad.yaml").write_text("RETRAIN: {DEPTH: [1\n")
    save_subnet(SubnetConfig(512, 4, (4.0,) * 4, (4,) * 4), d / "big.yaml")
    (d / "garbage.pt").write_bytes(b"not a checkpoint")
    tiny = Supernet(get_space("autoformer-small"))
    save_checkpoint(tiny, d / "tiny.pt")
    torch.save({"model": tiny.state_dict()}, d / "other.pt")  # AutoFormer layout, another shape
    return d


@pytest.mark.parametrize(
    "args, match",
    [
        (["inspect", "--space", "nope", "--subnet", "max"], "unknown search space 'nope'"),
        (["inspect", "--space", "mnist-cpu", "--subnet", "missing.yaml"], "no such file"),
        (["inspect", "--space", "mnist-cpu", "--subnet", "bad.yaml"], "malformed YAML"),
        (["inspect", "--space", "mnist-cpu", "--subnet", "big.yaml"], "exceeds the supernet"),
        (
            ["export", "--space", "mnist-cpu", "--subnet", "min", "--checkpoint", "other.pt", "--out", "x.onnx"],
            "does not fit the supernet",
        ),
        (
            ["export", "--space", "mnist-cpu", "--subnet", "min", "--checkpoint", "tiny.pt", "--out", "x.onnx"],
            "holds a supernet of space 'autoformer-small'",
        ),
        (
            ["export", "--space", "mnist-cpu", "--subnet", "min", "--checkpoint", "garbage.pt", "--out", "x.onnx"],
            "not a readable checkpoint",
        ),
        (["inspect", "--space"], "expected one argument"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(bad_inputs, args, match):
    r = hwnas(*args, cwd=bad_inputs)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_every_subcommand_has_help_with_examples():
    from hwnas.cli.main import COMMANDS

    for name in COMMANDS:
        r = hwnas(name, "--help")
        assert r.returncode == 0 and "example" in r.stdout.lower(), name
