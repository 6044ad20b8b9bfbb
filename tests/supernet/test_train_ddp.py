"""A real two-process run through torchrun (gloo on CPU)."""

import os
import subprocess
import sys

from hwnas.core.yaml_io import save_space
from hwnas.supernet.checkpoint import safe_load
from tests.spaces import mnist_tiny as tiny


def test_torchrun_two_cpu_processes_train_and_only_rank0_writes(tmp_path):
    space = tmp_path / "tiny.yaml"
    save_space(tiny(), space)
    out = tmp_path / "ckpt" / "s.pt"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "hwnas",
        "train",
        "--space",
        str(space),
        "--data",
        "mnist",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--strategy",
        "sandwich",
        "--max-steps",
        "4",
        "--threads",
        "1",
        "--teacher",
        "cnn",
        "--teacher-epochs",
        "1",
        "--out",
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in out.parent.iterdir()) == ["s.pt"]  # one file, no temporaries
    ckpt = safe_load(out)
    assert ckpt["train"]["world_size"] == 2 and ckpt["train"]["step"] == 4
    assert ckpt["train"]["steps_per_epoch"] == 4000 // 2 // 32
    assert r.stdout.count("wrote ") == 1  # only rank 0 prints
