"""The search's accuracy scores in bf16 autocast (the default where the CPU computes bfloat16 natively)
or fp32: the same per-image hits up to a few rounding flips, and the choice recorded."""

from __future__ import annotations

import numpy as np
import pytest

from hwnas.core.errors import ConfigError
from hwnas.devices.host import native_bf16
from hwnas.pipelines.fitness import InheritedAccuracy, score_precision
from hwnas.supernet.train import TrainConfig, train_supernet
from tests.spaces import mnist_tiny

TINY = mnist_tiny(embed_dim=(32, 64), head_dim=16)  # wide enough to learn digits in 80 steps


def test_auto_is_bf16_exactly_where_the_cpu_computes_it_natively():
    assert score_precision("auto") == ("bf16" if native_bf16() else "fp32")
    assert score_precision("fp32") == "fp32" and score_precision("bf16") == "bf16"
    with pytest.raises(ConfigError, match="fp16"):
        score_precision("fp16")


def test_bf16_scores_agree_with_fp32_on_a_trained_supernet(tmp_path):
    space, ckpt = TINY, tmp_path / "s.pt"
    train_supernet(space, "mnist", ckpt, TrainConfig(threads=1, epochs=2, batch_size=100, lr=3e-3), max_steps=80)
    fp32 = InheritedAccuracy(space, ckpt, precision="fp32")
    bf16 = InheritedAccuracy(space, ckpt, precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    for cfg in (space.min_config(), space.max_config()):
        a, b = fp32.hits(cfg, "val"), bf16.hits(cfg, "val")
        assert a.shape == b.shape == (500,)
        assert a.mean() > 0.25  # learned something (chance: 0.1): not the agreement of two constant guessers
        assert np.mean(a != b) <= 0.02  # rounding flips only images near a tie
