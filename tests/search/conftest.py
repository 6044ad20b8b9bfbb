"""Synthetic fitness and latency models: the search algorithm is what these tests put under test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hwnas.core import SubnetConfig, count_macs, get_space
from hwnas.core.space import SearchSpace
from hwnas.pipelines.workdir import RunDir


class MacsLatency:
    """Latency grows with MACs and depth; two heads per layer are slow (so min_config is not fastest)."""

    def __init__(
        self, space: SearchSpace, scale: float = 0.03, slow_two_heads: float = 0.0, offset: float = 0.3
    ) -> None:
        self.space, self.scale, self.slow, self.offset = space, scale, slow_two_heads, offset
        self.calls = 0

    def predict(self, configs):
        self.calls += 1
        return np.array(
            [
                self.offset
                + self.scale * count_macs(self.space, c) / 1e6
                + 0.05 * c.depth
                + self.slow * sum(h == 2 for h in c.num_heads)
                for c in configs
            ]
        )


def size_fitness(cfg) -> float:
    """Bigger is better; the unconstrained optimum is the max config."""
    return cfg.embed_dim / 96 + sum(cfg.mlp_ratio) + sum(cfg.num_heads)


def macs_fitness(cfg) -> float:
    """Grows with compute, with diminishing returns (like accuracy): budgets bind."""
    return float(np.log(count_macs(get_space("mnist-cpu"), cfg))) + 0.01 * sum(cfg.num_heads)


@pytest.fixture
def space() -> SearchSpace:
    return get_space("mnist-cpu")


@pytest.fixture
def tiny_space() -> SearchSpace:
    """27 configs in all: exhausting it exercises every cap."""
    return SearchSpace(
        embed_dim=(96, 128, 160),
        depth=(1,),
        mlp_ratio=(2.0, 3.0, 4.0),
        num_heads=(2, 3, 4),
        super_embed_dim=192,
        super_depth=8,
        super_mlp_ratio=4.0,
        super_num_heads=4,
        img_size=28,
        patch_size=4,
        in_chans=1,
        num_classes=10,
        head_dim=32,
        name="tiny",
    )


DATA = Path(__file__).parent / "data" / "cpu_latency_mnist.json"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> RunDir:
    """A run folder with a ridge predictor fitted on measured records and an untrained supernet."""
    import torch

    from hwnas.predictors import LatencyPredictor, save_predictor
    from hwnas.supernet import Supernet
    from hwnas.supernet.checkpoint import save_checkpoint

    space = get_space("mnist-cpu")
    rd = RunDir(tmp_path_factory.mktemp("run")).ensure()
    rec = json.loads(DATA.read_text())
    cfgs = [SubnetConfig.from_key(k) for k in rec["latency_ms"]]
    pred = LatencyPredictor(space, device="cpu", family="ridge").fit(cfgs, list(rec["latency_ms"].values()))
    save_predictor(pred, rd.predictor("cpu"))
    torch.manual_seed(0)
    save_checkpoint(Supernet(space), rd.supernet)
    return rd
