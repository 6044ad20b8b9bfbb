"""`torchrun --nproc_per_node 2 -m hwnas search`: the validation images are sharded over two real
processes (gloo), and the search finds the same winner with the same fitness values as one process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

ARGS = [
    "search",
    "--latency-ms",
    "3",
    "--device",
    "cpu",
    "--margin",
    "0.15",
    "--no-measure",
    "--no-onnx",
    "--population",
    "6",
    "--generations",
    "2",
    "--seed",
    "3",
    "--subset",
    "100",
    "--json",
]


def _run(cmd: list[str], workdir) -> dict:  # noqa: ANN001
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    p = subprocess.run([*cmd, *ARGS, "--workdir", str(workdir)], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads((workdir / "search" / "report.json").read_text())


@pytest.mark.slow
def test_two_processes_find_the_same_winner_as_one(run_dir, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for d in (one, two):
        shutil.copytree(run_dir.root, d)
    single = _run([sys.executable, "-m", "hwnas"], one)
    double = _run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "hwnas"], two
    )
    assert double["winner"]["key"] == single["winner"]["key"]
    assert double["winner"]["val_top1"] == single["winner"]["val_top1"]
    assert double["winner"]["test_top1"] == single["winner"]["test_top1"]
    assert double["history"] == single["history"]
    assert double["accuracy"]["finalists"] == single["accuracy"]["finalists"]
    assert single["accuracy"]["images"] == 100 and len(single["accuracy"]["finalists"]) >= 2
    # only rank 0 wrote: one report, and the run folder holds no second copy of anything
    assert sorted(p.name for p in (two / "search").iterdir()) == sorted(p.name for p in (one / "search").iterdir())
