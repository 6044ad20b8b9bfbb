"""A real two-process run through torchrun (gloo on CPU)."""

import os
import subprocess
import sys
from pathlib import Path

from hwnas.core.yaml_io import save_space
from hwnas.supernet.checkpoint import safe_load
from tests.spaces import mnist_tiny as tiny

# `hwnas train`, then the names of the threads left in this process (Linux): gloo's must be gone before the
# interpreter finalizes, or one freeing a finished work is killed mid-destructor there (SIGABRT).
TRAIN_THEN_LIST_THREADS = """
import os, sys
from hwnas.cli.main import main
code = main(sys.argv[1:])
if os.path.isdir("/proc/self/task"):
    names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
    print(f"rank {os.environ['RANK']} threads at exit: {sorted(names)}", file=sys.stderr)
sys.exit(code)
"""


def test_torchrun_two_cpu_processes_train_and_only_rank0_writes(tmp_path):
    space = tmp_path / "tiny.yaml"
    save_space(tiny(), space)
    out = tmp_path / "ckpt" / "s.pt"
    script = tmp_path / "train_then_list_threads.py"
    script.write_text(TRAIN_THEN_LIST_THREADS)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
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
    root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
    }
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in out.parent.iterdir()) == ["s.pt"]  # one file, no temporaries
    ckpt = safe_load(out)
    assert ckpt["train"]["world_size"] == 2 and ckpt["train"]["step"] == 4
    assert ckpt["train"]["steps_per_epoch"] == 4000 // 2 // 32
    assert r.stdout.count("wrote ") == 1  # only rank 0 prints
    if os.path.isdir("/proc/self/task"):  # the process group was freed, gloo's threads joined, before exit
        left = [line for line in r.stderr.splitlines() if "threads at exit" in line]
        assert len(left) == 2 and not any("gloo" in line for line in left), left
