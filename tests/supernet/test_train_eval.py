import pytest
import torch
from torch import nn

from hwnas.core.errors import ConfigError
from hwnas.data import batches, load_split
from hwnas.pipelines.evaluate import evaluate_checkpoint
from hwnas.supernet.evaluate import evaluate
from hwnas.supernet.supernet import Supernet
from hwnas.supernet.train import TrainConfig, train_supernet
from tests.spaces import mnist_tiny as tiny


def test_evaluate_counts_top1_top5_and_loss():
    y = torch.arange(10).repeat(3)
    logits = 10 * nn.functional.one_hot(y, 10).float()
    logits[:6] = 10 * nn.functional.one_hot((y[:6] + 1) % 10, 10).float() + 5 * nn.functional.one_hot(y[:6], 10)
    loader = [(logits[:16], y[:16]), (logits[16:], y[16:])]
    r = evaluate(nn.Identity(), None, loader)
    assert r["n"] == 30 and r["top1"] == pytest.approx(80.0) and r["top5"] == pytest.approx(100.0)
    assert r["loss"] == pytest.approx(float(nn.functional.cross_entropy(logits, y)), rel=1e-6)


def test_inherited_weights_score_like_the_extracted_subnet():
    torch.manual_seed(0)
    net = Supernet(tiny()).train()
    val = load_split("mnist", "val", tiny())
    cfg = tiny().min_config()
    a = evaluate(net, cfg, batches(val, None, 128))
    assert net.training and net.config == cfg
    b = evaluate(net.extract(cfg), None, batches(val, None, 500))
    assert a["n"] == 500 and a["top1"] == b["top1"] and a["loss"] == pytest.approx(b["loss"], rel=1e-5)


def test_evaluate_checkpoint_on_any_split(tmp_path):
    out = tmp_path / "s.pt"
    train_supernet(tiny(), "mnist", out, TrainConfig(threads=1, epochs=1, batch_size=100, lr=3e-3), max_steps=20)
    r = evaluate_checkpoint(out, "max", "test")
    assert r.n == 500 and r.split == "test" and r.data == "mnist" and 0 <= r.top1 <= 100
    assert r.key == tiny().max_config().key() and r.params > 0
    assert evaluate_checkpoint(out, "min", "val").top1 > 10  # learned something in 20 steps
    with pytest.raises(ConfigError):
        evaluate_checkpoint(out, "max", "holdout")
