import math
import os

import numpy as np
import pytest
import torch

from hwnas.core import presets
from hwnas.core.errors import ConfigError, NotFoundError
from hwnas.core.space import SearchSpace
from hwnas.supernet.checkpoint import load_supernet, safe_load, save_checkpoint
from hwnas.supernet.supernet import Supernet
from hwnas.supernet.train import TrainConfig, lr_at, step_subnets, train_supernet
from tests.spaces import mnist_tiny


def tiny() -> SearchSpace:
    return mnist_tiny(embed_dim=(16, 24, 32))


def test_lr_warms_up_linearly_then_follows_a_cosine():
    lrs = [lr_at(s, 100, 10, 1e-3, 1e-5) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[9] == pytest.approx(1e-3)
    assert lrs[10] == pytest.approx(1e-3) and lrs[55] == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] > 1e-5
    assert TrainConfig().peak_lr(1) == pytest.approx(1e-3) == TrainConfig(batch_size=128).peak_lr(8)
    assert TrainConfig(batch_size=512).peak_lr(8) == pytest.approx(1e-3 * math.sqrt(4))


def test_step_subnets_same_for_the_same_seed_and_sandwich_brackets():
    space = presets.get("mnist-cpu")
    a = step_subnets(space, "uniform", np.random.default_rng([0, 7]))
    assert a == step_subnets(space, "uniform", np.random.default_rng([0, 7])) and len(a) == 1
    s = step_subnets(space, "sandwich", np.random.default_rng(1), num_random=3)
    assert len(s) == 5 and s[0] == space.max_config() and s[-1] == space.min_config()
    assert all(space.in_choices(c) for c in s)


def test_bad_recipes_are_config_errors(tmp_path):
    for bad in (dict(strategy="zigzag"), dict(epochs=0), dict(lr=-1.0), dict(label_smoothing=1.0)):
        with pytest.raises(ConfigError):
            train_supernet(tiny(), "mnist", tmp_path / "s.pt", TrainConfig(threads=1, **bad))
    with pytest.raises(ConfigError, match="exceeds"):
        train_supernet(tiny(), "mnist", tmp_path / "s.pt", TrainConfig(threads=1, batch_size=10_000))
    with pytest.raises(NotFoundError, match="nothing to resume"):
        train_supernet(tiny(), "mnist", tmp_path / "s.pt", TrainConfig(threads=1), resume=True)


@pytest.mark.parametrize("strategy", ["uniform", "sandwich"])
def test_training_learns_and_checkpoints_every_epoch(tmp_path, strategy):
    out = tmp_path / "s.pt"
    cfg = TrainConfig(threads=1, epochs=2, batch_size=50, strategy=strategy, lr=3e-3, warmup_epochs=0.1)
    seen = []
    r = train_supernet(tiny(), "mnist", out, cfg, on_epoch=seen.append)
    assert r.step == r.total_steps == 160 and [e["epoch"] for e in seen] == [1, 2]
    assert seen[1]["loss"] < seen[0]["loss"]
    assert min(seen[1]["val_top1_max"], seen[1]["val_top1_min"]) > 20  # chance is 10 %
    ckpt = safe_load(out)  # weights_only=True
    assert ckpt["train"]["step"] == 160 and ckpt["train"]["config"]["strategy"] == strategy
    assert len(ckpt["history"]) == 2 and "optimizer" in ckpt
    d = r.to_dict()  # what `hwnas train --json` prints: the keys it printed as a dict, plain data
    assert list(d) == [
        *("checkpoint", "rank", "step", "total_steps", "steps_per_epoch", "world_size", "seconds", "history"),
        *("teacher_val_top1", "config"),
    ]
    assert d["checkpoint"] == str(out) and d["config"] == ckpt["train"]["config"] and d["history"] == ckpt["history"]
    with pytest.raises(ConfigError, match="exists"):
        train_supernet(tiny(), "mnist", out, cfg)


def test_resume_takes_exactly_the_same_steps(tmp_path, monkeypatch):
    cfg = TrainConfig(
        threads=1,
        epochs=2,
        batch_size=64,
        strategy="sandwich",
        num_random=1,
        drop_path=0.1,
        mixup=0.8,
        cutmix=1.0,
        warmup_epochs=0.5,
        teacher="cnn",
        teacher_epochs=1,  # the CNN teacher is kept in the checkpoint, not retrained on resume
    )
    straight, split = tmp_path / "straight.pt", tmp_path / "split.pt"
    train_supernet(tiny(), "mnist", straight, cfg, max_steps=10)
    train_supernet(tiny(), "mnist", split, cfg, max_steps=5)
    half = safe_load(split)
    assert half["train"]["step"] == 5

    def retrain(*args, **kwargs):
        raise AssertionError("a resume retrained the teacher")

    monkeypatch.setattr("hwnas.supernet.train.train_teacher", retrain)
    train_supernet(tiny(), "mnist", split, cfg, resume=True, max_steps=10)
    a, b = safe_load(straight), safe_load(split)
    assert a["train"]["step"] == b["train"]["step"] == 10
    assert all(torch.equal(v, b["teacher"]["model"][k]) for k, v in a["teacher"]["model"].items())
    for k, v in a["model"].items():
        assert torch.allclose(v, b["model"][k], atol=1e-6), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(torch.allclose(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"], atol=1e-9) for i in sa)
    assert a["optimizer"]["param_groups"][0]["lr"] == pytest.approx(b["optimizer"]["param_groups"][0]["lr"])
    # and the resumed state really moved on from the half-way one
    assert not torch.allclose(half["model"]["head.weight"], b["model"]["head.weight"])


def test_resume_keeps_the_saved_recipe(tmp_path):
    out = tmp_path / "s.pt"
    train_supernet(tiny(), "mnist", out, TrainConfig(threads=1, epochs=1, batch_size=200), max_steps=2)
    with pytest.warns(UserWarning, match="batch_size"):
        r = train_supernet(
            tiny(),
            "mnist",
            out,
            TrainConfig(threads=1, epochs=1, batch_size=100),
            resume=True,
            max_steps=3,
        )
    assert r.config.batch_size == 200 and r.step == 3


def test_resume_of_a_checkpoint_older_than_a_recipe_field_keeps_what_it_trained_with(tmp_path):
    out = tmp_path / "s.pt"
    train_supernet(tiny(), "mnist", out, TrainConfig(threads=1, epochs=1, batch_size=200), max_steps=2)
    ckpt = safe_load(out)
    del ckpt["train"]["config"]["distill_weight"]  # as written before the field existed
    torch.save(ckpt, out)
    r = train_supernet(tiny(), "mnist", out, TrainConfig(threads=1, epochs=1), resume=True, max_steps=3)
    assert r.config.distill_weight == 1.0 != TrainConfig().distill_weight


class Exploding:
    def __reduce__(self):
        raise RuntimeError("disk full (simulated by an unpicklable object)")


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path):
    net = Supernet(tiny())
    path = save_checkpoint(net, tmp_path / "s.pt", train={"step": 1})
    before = path.read_bytes()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(net, path, train={"step": 2}, broken=Exploding())
    assert path.read_bytes() == before and [f.name for f in tmp_path.iterdir()] == ["s.pt"]
    loaded, ckpt = load_supernet(path)
    assert ckpt["train"]["step"] == 1
    assert not torch.allclose(loaded.head.weight, net.head.weight)


def test_single_strategy_trains_exactly_the_static_subnet_alone(tmp_path):
    """'single' on the supernet is the subnet trained alone: the same steps on a plain static copy of
    its initial weights (same batches, warp, clipping, AdamW) give the same weights."""
    from hwnas.data import ResumableSampler, batches, load_split
    from hwnas.data.transforms import random_affine
    from hwnas.supernet.distill import classification_loss
    from hwnas.supernet.supernet import NO_WEIGHT_DECAY
    from hwnas.supernet.train import step_seed

    space = tiny()
    sub = space.min_config()
    cfg = TrainConfig(
        threads=1,
        epochs=1,
        batch_size=100,
        strategy="single",
        subnet=sub.key(),
        lr=3e-3,
        warmup_epochs=0.5,
        eval_every=0,
        precision="fp32",
    )
    train_supernet(space, "mnist", tmp_path / "s.pt", cfg, max_steps=6)
    trained, _ = load_supernet(tmp_path / "s.pt")

    torch.manual_seed(cfg.seed)
    alone = Supernet(space).extract(sub).train()
    groups = [[], []]
    for name, p in alone.named_parameters():
        groups[p.ndim <= 1 or any(k in name for k in NO_WEIGHT_DECAY)].append(p)
    opt = torch.optim.AdamW(
        [{"params": groups[0], "weight_decay": cfg.weight_decay}, {"params": groups[1], "weight_decay": 0.0}], lr=cfg.lr
    )
    train = load_split("mnist", "train", space)
    sampler = ResumableSampler(train, seed=cfg.seed)
    sampler.set_position(0)
    spe = len(train) // cfg.batch_size
    for step, (x, y) in zip(range(6), batches(train, sampler, cfg.batch_size, drop_last=True)):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, spe, round(0.5 * spe), cfg.lr, cfg.min_lr)
        x = random_affine(x, torch.Generator().manual_seed(step_seed(cfg.seed, step)))
        opt.zero_grad(set_to_none=True)
        classification_loss(alone(x), y, cfg.label_smoothing).backward()
        torch.nn.utils.clip_grad_norm_(alone.parameters(), cfg.clip_grad)
        opt.step()
    got = trained.extract(sub).state_dict()
    for k, v in alone.state_dict().items():
        assert torch.allclose(got[k], v, atol=1e-6), k


def test_single_strategy_needs_its_subnet_and_other_recipe_errors(tmp_path):
    for bad in (dict(strategy="single"), dict(subnet="e16-d1-m1-h1"), dict(precision="fp8")):
        with pytest.raises(ConfigError):
            train_supernet(tiny(), "mnist", tmp_path / "s.pt", TrainConfig(threads=1, **bad))


def test_cli_repeats_the_recipe_choices_exactly():
    from hwnas.cli import train_cmd
    from hwnas.supernet import train

    assert train_cmd.STRATEGIES == train.STRATEGIES and train_cmd.PRECISIONS == train.PRECISIONS
    assert train_cmd.TEACHERS == train.TEACHERS
    assert train_cmd.DEFAULT_EPOCHS == train.DEFAULT_EPOCHS == TrainConfig().epochs


def test_bf16_autocast_trains(tmp_path):
    cfg = TrainConfig(threads=1, epochs=1, batch_size=50, precision="bf16", lr=3e-3, warmup_epochs=0.1)
    r = train_supernet(tiny(), "mnist", tmp_path / "s.pt", cfg)
    assert r.history[-1]["val_top1_max"] > 20


def test_progressive_shrinking_trains_the_largest_alone_first(tmp_path, monkeypatch):
    import hwnas.supernet.train as train_mod

    seen: list[int] = []
    real = train_mod.step_subnets

    def spy(space, strategy, rng, num_random=1, subnet=None):
        subs = real(space, strategy, rng, num_random, subnet)
        seen.append(len(subs))
        return subs

    monkeypatch.setattr(train_mod, "step_subnets", spy)
    cfg = TrainConfig(threads=1, epochs=1, batch_size=400, largest_first=0.5, eval_every=0)
    train_supernet(tiny(), "mnist", tmp_path / "s.pt", cfg)
    assert seen == [1] * 5 + [3] * 5  # 10 steps: the largest alone, then largest + 1 random + smallest
    with pytest.raises(ConfigError, match="largest_first"):
        train_supernet(tiny(), "mnist", tmp_path / "t.pt", TrainConfig(threads=1, largest_first=1.0))


def test_auto_precision_is_resolved_and_recorded(tmp_path):
    from hwnas.devices.host import native_bf16

    r = train_supernet(
        tiny(),
        "mnist",
        tmp_path / "s.pt",
        TrainConfig(threads=1, epochs=1, batch_size=400, eval_every=0),
    )
    assert r.config.precision == ("bf16" if native_bf16() else "fp32")
    assert safe_load(tmp_path / "s.pt")["train"]["config"]["precision"] == r.config.precision


def test_distill_weight_scales_the_smaller_subnets_share(tmp_path):
    def weights(name: str, **over) -> dict[str, torch.Tensor]:
        cfg = TrainConfig(threads=1, epochs=1, batch_size=400, eval_every=0, precision="fp32", **over)
        train_supernet(tiny(), "mnist", tmp_path / name, cfg)
        return load_supernet(tmp_path / name, tiny())[0].state_dict()

    largest_only = weights("a.pt", largest_first=0.99)  # all 10 steps train the largest alone
    muted = weights("b.pt", largest_first=0.0, distill_weight=0.0)  # sandwich, the children's losses x 0
    full = weights("c.pt", largest_first=0.0)
    assert all(torch.equal(largest_only[k], muted[k]) for k in largest_only)
    assert not all(torch.equal(largest_only[k], full[k]) for k in largest_only)
    with pytest.raises(ConfigError, match="distill_weight"):
        TrainConfig(distill_weight=-1.0).check()


@pytest.fixture
def two_threads():
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 cores: the order of a multi-threaded accumulation is what is tested")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_position_table_gradients_do_not_depend_on_thread_timing(two_threads):
    from hwnas.supernet.layers import RelativePosition2D

    torch.manual_seed(0)
    rel = RelativePosition2D(head_dim=32, max_rel=14, num_patches=49)  # mnist-cpu's tables
    upstream = torch.randn(50, 50, 32)

    def grads() -> list[torch.Tensor]:
        rel.zero_grad()
        rel().backward(upstream)
        return [rel.embeddings_table_v.grad.clone(), rel.embeddings_table_h.grad.clone()]

    first = grads()
    assert all(all(torch.equal(a, b) for a, b in zip(first, grads())) for _ in range(20))


def test_one_seed_gives_the_same_weights_on_two_threads(tmp_path, two_threads):
    """Two trainings from one seed end bit-equal with 2 intra-op threads (sandwich steps included)."""
    space = presets.get("mnist-cpu")
    cfg = TrainConfig(threads=2, epochs=1, largest_first=0.0, eval_every=0)
    weights = []
    for run in ("a", "b"):
        train_supernet(space, "mnist", tmp_path / f"{run}.pt", cfg, max_steps=4)
        weights.append(load_supernet(tmp_path / f"{run}.pt")[0].state_dict())
    assert all(torch.equal(v, weights[1][k]) for k, v in weights[0].items())
