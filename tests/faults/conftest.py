"""A run folder holding one complete set of earlier outputs (store, predictor, checkpoint, search)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hwnas import devices
from hwnas.core import SubnetConfig, get_space
from hwnas.pipelines.workdir import RunDir

DATA = Path(__file__).parents[1] / "search" / "data" / "cpu_latency_mnist.json"
SEARCH_SET = {
    "winner.yaml": "RETRAIN: old\n",
    "winner.onnx": "old onnx",
    "report.json": '{"old": true}\n',
    "report.md": "# old\n",
    "pareto.png": "old png",
}


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (what 'nothing lost or changed' compares)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def fill_store(db: Path) -> int:
    from hwnas.profiling.record import LatencyRecord
    from hwnas.profiling.store import LatencyStore

    space, dev = get_space("mnist-cpu"), devices.get("cpu")
    lat = json.loads(DATA.read_text())["latency_ms"]
    with LatencyStore(db) as store:
        for key, ms in lat.items():
            store.add(
                LatencyRecord.for_config(
                    SubnetConfig.from_key(key), dev, space.name, space.digest(), latency_ms=ms, median_ms=ms, runs=10
                )
            )
    return len(lat)


@pytest.fixture(scope="session")
def old_run(tmp_path_factory) -> RunDir:
    """Earlier outputs of every command, small enough for a few-MB tmpfs."""
    from hwnas.predictors import LatencyPredictor, save_predictor

    rd = RunDir(tmp_path_factory.mktemp("old") / "run").ensure()
    fill_store(rd.store)
    space = get_space("mnist-cpu")
    lat = json.loads(DATA.read_text())["latency_ms"]
    pred = LatencyPredictor(space, device="cpu", family="ridge").fit(
        [SubnetConfig.from_key(k) for k in lat], list(lat.values())
    )
    save_predictor(pred, rd.predictor("cpu"))
    rd.predictor("cpu").with_suffix(".png").write_text("old plot")
    import torch

    from hwnas.supernet import Supernet
    from hwnas.supernet.checkpoint import save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(Supernet(space), rd.supernet)
    rd.search.mkdir()
    for name, text in SEARCH_SET.items():
        (rd.search / name).write_text(text)
    return rd
