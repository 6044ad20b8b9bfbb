"""End to end: `hwnas run` on a tiny setting, then the commands that compose with its run folder."""

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from hwnas.core.yaml_io import load_subnet

# A quick protocol (the protocol itself is tested in tests/profiling): the chain is under test here.
QUICK_DEVICE = """
[devices.cpu-q]
base = "cpu"
rounds = 3
min_rounds = 3
min_ms = 10
warmup_runs = 3
block_ms = 2.0
"""


def hwnas(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "hwnas", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1", "HWNAS_DEVICES": str(cwd / "devices.toml")},
    )


@pytest.mark.slow
def test_the_whole_pipeline_on_a_tiny_setting_and_the_commands_that_follow(tmp_path):
    (tmp_path / "devices.toml").write_text(QUICK_DEVICE)
    # a short training first (the training itself is tested in tests/supernet): `hwnas run` reuses it
    t = hwnas("train", "--epochs", "1", "--max-steps", "5", cwd=tmp_path)
    assert t.returncode == 0, t.stderr[-3000:]
    r = hwnas(
        "run",
        *("--device", "cpu-q", "--epochs", "1", "-n", "24", "--population", "6", "--generations", "2"),
        *("--subset", "100"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "train: reusing" in r.stderr
    run = tmp_path / "hwnas-run"
    report = json.loads((run / "search" / "report.json").read_text())
    winner = report["winner"]
    assert winner is not None and winner["val_top1"] is not None
    for name in (
        "supernet.pt",
        "latency.db",
        "predictors/cpu-q.json",
        "predictors/cpu-q.png",
        "search/winner.yaml",
        "search/winner.onnx",
        "search/pareto.png",
        "search/report.md",
    ):
        assert (run / name).is_file(), name
    assert "test top-1" in r.stdout and "winner.onnx" in r.stdout
    cfg = load_subnet(run / "search" / "winner.yaml")
    assert cfg.key() == winner["key"]
    out = ort.InferenceSession(str(run / "search" / "winner.onnx")).run(
        None, {"image": np.zeros((1, 1, 28, 28), np.float32)}
    )[0]
    assert out.shape == (1, 10)

    # the steps compose without repeating paths
    p = hwnas("predict", "--device", "cpu-q", "--subnet", "max", "--json", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["latency_ms"] > 0
    e = hwnas("export", "--out", "again.onnx", cwd=tmp_path)
    assert e.returncode == 0, e.stderr
    assert "supernet.pt" in e.stdout  # the run folder's trained weights, not random ones
    infeasible = hwnas("search", "--latency-ms", "0.01", "--device", "cpu-q", cwd=tmp_path)
    assert infeasible.returncode == 2
    assert infeasible.stderr.count("\n") == 1 and "the fastest is" in infeasible.stderr


def test_the_default_budget_counts_each_subnet_once_at_its_label():
    import pandas as pd

    from hwnas.cli.run_cmd import default_budget
    from hwnas.profiling.labels import labels_of

    ms = 1.0 + np.arange(10) / 10  # ten subnets' true latencies
    # the five fastest visited three times, one of them in a batch 30 % slow; the rest once
    rows = [
        {"key": f"s{i}", "visit": f"v{k}", "latency_ms": ms[i] * (1.3 if k == 2 else 1.0)}
        for i in range(10)
        for k in range(3 if i < 5 else 1)
    ]
    df = pd.DataFrame(rows)
    assert default_budget(labels_of(df)) == round(float(np.quantile(ms, 0.4)), 2) == 1.36
    assert round(float(df["latency_ms"].quantile(0.4)), 2) != 1.36  # what the raw visits would have given
