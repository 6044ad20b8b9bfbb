"""Supernet training: the sandwich rule, AutoFormer's uniform recipe, or one subnet alone (the baseline
that inherited weights are measured against), on one process or many (DDP).

Every step's randomness is derived from (seed, step): the subnets (same on all ranks), mixup/cutmix
and, per rank, drop path. With the data order fixed by (seed, epoch) and the position inside the
epoch stored, a resumed run takes exactly the steps an uninterrupted one would have taken.
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from collections.abc import Sized
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, cast

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import TensorDataset

from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError, HwnasError, NotFoundError
from hwnas.core.space import SearchSpace
from hwnas.data import ResumableSampler, batches, load_split
from hwnas.data.transforms import mix_batch, random_affine
from hwnas.supernet.checkpoint import load_supernet, save_checkpoint
from hwnas.supernet.distill import classification_loss, inplace_distillation_loss
from hwnas.supernet.distributed import DistInfo, init_distributed, shutdown
from hwnas.supernet.evaluate import evaluate
from hwnas.supernet.supernet import Supernet
from hwnas.supernet.teacher import TEACHERS, SmallCNN, teacher_probs, train_teacher

STRATEGIES = ("sandwich", "uniform", "single")
FINETUNE_TEACHERS = ("largest",)  # a fine-tune's extra teacher (needs ``init``)
PRECISIONS = ("auto", "fp32", "bf16")
RUNTIME = ("threads", "workers", "save_every", "eval_every")  # may change on resume; the rest may not
# AutoFormer's peak lr (1e-3 at a total batch of 1024). It is kept, not scaled down, for small batches:
# linear scaling would give 3e-5 at batch 32, where ViTs then barely move; scaled up by sqrt beyond 1024.
BASE_LR, REFERENCE_BATCH = 1e-3, 1024
DEFAULT_EPOCHS = 12  # `hwnas train` and `hwnas run` alike
# What checkpoints written before a field existed trained with (a resume keeps their recipe).
LEGACY_DEFAULTS: dict[str, Any] = {"distill_weight": 1.0}


@dataclass
class TrainConfig:
    """The recipe. ``batch_size`` is per process; ``lr`` None means 1e-3 (x sqrt(total batch / 1024)
    above 1024). The defaults fit the bundled MNIST on a 2-core CPU in a few minutes."""

    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 32
    lr: float | None = None
    min_lr: float = 1e-5
    warmup_epochs: float = 0.4
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    strategy: str = "sandwich"
    num_random: int = 1  # sandwich: random subnets between the largest and the smallest
    largest_first: float = 0.45  # sandwich: share of the steps that train only the largest subnet, first
    # sandwich: each smaller subnet's distillation loss against the largest's loss. At 0.5 the largest keeps
    # half of the step's gradient: +2.4 points for it, +0.6 for the smallest (one seed, train_recipes.py)
    distill_weight: float = 0.5
    # 'cnn': the largest subnet (or the one of 'single') learns from (1 - w) x labels + w x a small CNN's
    # predictions (DeiT's convnet teacher). Off by default: on the bundled data it changed the mean of 24
    # random subnets by +0.25 and -0.1 points on two seeds (train_recipes.py), within training noise
    teacher: str = "none"
    teacher_weight: float = 0.5
    teacher_epochs: int = 8  # ~15 s on the bundled data, 2 cores
    subnet: str | None = None  # single: the key of the one subnet every step trains
    # a fine-tune: the supernet checkpoint whose weights the run starts from (instead of a seeded initialisation);
    # with it, teacher 'largest' is that checkpoint's largest subnet, frozen ('hwnas finetune')
    init: str | None = None
    drop_path: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    affine: bool = True  # in-memory data (bundled MNIST): random rotation/scale/shift per step
    clip_grad: float = 1.0  # max gradient norm; 0 = no clipping
    precision: str = "auto"  # bf16 autocast where the hardware has bfloat16 arithmetic, else fp32
    seed: int = 0
    save_every: int = 0  # steps between checkpoints; 0 = at the end of every epoch
    eval_every: int = 1  # epochs between validation of the largest and smallest subnet; 0 = never
    workers: int = 0  # DataLoader workers for image folders
    threads: int = 0  # torch threads per process; 0 = OMP_NUM_THREADS or the cores / processes

    def check(self) -> TrainConfig:
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"unknown strategy {self.strategy!r}; known: {', '.join(STRATEGIES)}")
        if (self.strategy == "single") != (self.subnet is not None):
            raise ConfigError("strategy 'single' trains exactly one subnet: give it (subnet=KEY), and only with it")
        known_teachers = (*TEACHERS, *FINETUNE_TEACHERS) if self.init else TEACHERS
        if self.teacher not in known_teachers:
            raise ConfigError(f"unknown teacher {self.teacher!r}; known: {', '.join(known_teachers)}")
        if not 0 <= self.teacher_weight <= 1:
            raise ConfigError(f"teacher_weight must be in [0, 1], got {self.teacher_weight}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; known: {', '.join(PRECISIONS)}")
        ints = {
            "epochs": 1,
            "teacher_epochs": 1,
            "batch_size": 1,
            "num_random": 0,
            "save_every": 0,
            "eval_every": 0,
            "workers": 0,
            "threads": 0,
        }
        for name, low in ints.items():
            if int(getattr(self, name)) < low:
                raise ConfigError(f"{name} must be at least {low}, got {getattr(self, name)}")
        for name in (
            "min_lr",
            "warmup_epochs",
            "weight_decay",
            "drop_path",
            "mixup",
            "cutmix",
            "clip_grad",
            "distill_weight",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.largest_first < 1:
            raise ConfigError(f"largest_first must be in [0, 1), got {self.largest_first}")
        return self

    def peak_lr(self, world_size: int) -> float:
        if self.lr is not None:
            return self.lr
        return BASE_LR * math.sqrt(max(1.0, self.batch_size * world_size / REFERENCE_BATCH))


def bf16_or_fp32(device: str) -> str:
    """bf16 where the device computes it natively (about twice as fast for these models), else fp32."""
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    from hwnas.devices.host import native_bf16

    return "bf16" if native_bf16() else "fp32"


def lr_at(step: int, total: int, warmup: int, peak: float, floor: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from ``peak`` down to ``floor``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * min(1.0, progress)))


def step_subnets(
    space: SearchSpace, strategy: str, rng: np.random.Generator, num_random: int = 1, subnet: SubnetConfig | None = None
) -> list[SubnetConfig]:
    """The subnets one step trains: largest + ``num_random`` samples + smallest (sandwich), one uniform
    sample, or the one ``subnet`` (single)."""
    if strategy == "uniform":
        return [space.sample(rng)]
    if strategy == "largest":
        return [space.max_config()]
    if strategy == "single":
        if subnet is None:
            raise ConfigError("strategy 'single' needs the subnet to train")
        return [subnet]
    return [space.max_config(), *(space.sample(rng) for _ in range(num_random)), space.min_config()]


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


StepCallback = Callable[[int, int, float, float], None]  # step, total, loss, lr
EpochCallback = Callable[[dict[str, Any]], None]


class _Run:
    """The state of one training run; ``train_supernet`` is its public face."""

    def __init__(
        self, space: SearchSpace, data: str, out: Path, cfg: TrainConfig, info: DistInfo, resume: bool
    ) -> None:
        self.space, self.data, self.out, self.info = space, data, out, info
        self.history: list[dict[str, Any]] = []
        self.step, self.epoch_loss = 0, [0.0, 0]
        ckpt = self._load(resume, cfg)
        self.cfg = cfg if ckpt is None else _saved_config(ckpt, cfg)
        if self.cfg.precision == "auto":  # resolved once; the checkpoint records what ran
            self.cfg = replace(self.cfg, precision=bf16_or_fp32(info.device))
        if ckpt is None:
            torch.manual_seed(self.cfg.seed)  # the same initial weights on every rank
            self.net = (
                Supernet(space, drop_path_rate=self.cfg.drop_path)
                if self.cfg.init is None  # else a fine-tune, starting from the weights its subnets inherit
                else load_supernet(self.cfg.init, space, drop_path_rate=self.cfg.drop_path)[0]
            )
        self.net.to(info.device).train()
        self.only = None if self.cfg.subnet is None else SubnetConfig.from_key(self.cfg.subnet)
        if self.only is not None:
            space.validate(self.only)
        self.train_ds = load_split(data, "train", space, augment=True, seed=self.cfg.seed)
        # image folders are augmented per image as they load; tensors held in memory per batch here
        self.warp = self.cfg.affine and isinstance(self.train_ds, TensorDataset)
        self.sampler = ResumableSampler(self.train_ds, info.world_size, info.rank, shuffle=True, seed=self.cfg.seed)
        self.steps_per_epoch = self.sampler.num_samples // self.cfg.batch_size
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"batch size {self.cfg.batch_size} x {info.world_size} processes exceeds the "
                f"{len(cast(Sized, self.train_ds))} training images"
            )
        self.total = self.cfg.epochs * self.steps_per_epoch
        self.warmup = round(self.cfg.warmup_epochs * self.steps_per_epoch)
        self.peak = self.cfg.peak_lr(info.world_size)
        self.opt = torch.optim.AdamW(self.net.param_groups(self.cfg.weight_decay), lr=self.peak)
        self.teacher, self.teacher_top1 = self._teacher(ckpt)
        if ckpt is not None:
            self._restore(ckpt)
        self.model = _ddp(self.net, info) if info.distributed else self.net

    def _load(self, resume: bool, cfg: TrainConfig) -> dict[str, Any] | None:
        if not resume:
            return None
        if not self.out.is_file():
            raise NotFoundError(f"nothing to resume: no checkpoint at {self.out}")
        self.net, ckpt = load_supernet(self.out, self.space, drop_path_rate=cfg.drop_path)
        if not isinstance(ckpt.get("train"), dict) or "optimizer" not in ckpt:
            raise ConfigError(f"{self.out} holds no training state to resume from")
        return ckpt

    def _teacher(self, ckpt: dict[str, Any] | None) -> tuple[nn.Module | None, float | None]:
        """The teacher: a fine-tune's starting largest subnet (teacher 'largest'), or the CNN: the
        checkpoint's on resume, else trained now (on every rank alike, then rank 0's weights broadcast).
        Its validation top-1 is reported."""
        if self.cfg.teacher == "none":
            return None, None
        space, device, bf16 = self.space, self.info.device, self.cfg.precision == "bf16"
        net: nn.Module
        if self.cfg.teacher == "largest":
            net = load_supernet(cast(str, self.cfg.init), space)[0].extract(space.max_config()).to(device).eval()
        elif ckpt is not None and isinstance(ckpt.get("teacher"), dict):
            net = SmallCNN(space.in_chans, space.num_classes).to(device)
            net.load_state_dict(ckpt["teacher"]["model"])
            return net.eval(), ckpt["teacher"].get("val_top1")
        else:
            net = train_teacher(
                self.train_ds,
                space.in_chans,
                space.num_classes,
                self.cfg.seed,
                epochs=self.cfg.teacher_epochs,
                device=device,
                bf16=bf16,
                workers=self.cfg.workers,
            )
            if self.info.distributed:
                for t in net.state_dict().values():
                    torch.distributed.broadcast(t, src=0)
        val = batches(load_split(self.data, "val", space), None, 256, workers=self.cfg.workers)
        return net, round(evaluate(net, None, val, device)["top1"], 3)

    def _restore(self, ckpt: dict[str, Any]) -> None:
        st = ckpt["train"]
        if st.get("world_size") != self.info.world_size or st.get("steps_per_epoch") != self.steps_per_epoch:
            raise ConfigError(
                f"{self.out} was trained with {st.get('world_size')} processes and "
                f"{st.get('steps_per_epoch')} steps per epoch; resume with the same "
                f"(now {self.info.world_size} and {self.steps_per_epoch})"
            )
        self.opt.load_state_dict(ckpt["optimizer"])
        self.step, self.history = int(st["step"]), list(ckpt.get("history", []))
        self.epoch_loss = list(st.get("epoch_loss", [0.0, 0]))

    # --- one step ---------------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        cfg, net = self.cfg, self.net
        rng = np.random.default_rng([cfg.seed, self.step])  # identical on every rank
        torch.manual_seed(step_seed(cfg.seed, self.step, self.info.rank))  # drop path, per rank
        strategy = cfg.strategy
        if strategy == "sandwich" and self.step < cfg.largest_first * self.total:  # progressive shrinking
            strategy = "largest"
        subnets = step_subnets(self.space, strategy, rng, cfg.num_random, self.only)
        lr = lr_at(self.step, self.total, self.warmup, self.peak, cfg.min_lr)
        for g in self.opt.param_groups:
            g["lr"] = lr
        if self.warp:
            x = random_affine(x, torch.Generator().manual_seed(step_seed(cfg.seed, self.step, self.info.rank)))
        x, y = x.to(self.info.device), y.to(self.info.device)
        target: torch.Tensor = y
        if cfg.mixup > 0 or cfg.cutmix > 0:
            x, target = mix_batch(x, y, self.space.num_classes, rng, cfg.mixup, cfg.cutmix, cfg.label_smoothing)
            target = target.to(self.info.device)
        self.opt.zero_grad(set_to_none=True)
        largest_probs, reported = None, 0.0
        for i, sub in enumerate(subnets):
            net.set_config(sub)
            last = i == len(subnets) - 1
            with (
                cast(DistributedDataParallel, self.model).no_sync()
                if self.info.distributed and not last
                else nullcontext()
            ):
                with torch.autocast(
                    self.info.device.split(":")[0], dtype=torch.bfloat16, enabled=cfg.precision == "bf16"
                ):
                    logits = self.model(x).float()
                if largest_probs is None:
                    loss = classification_loss(logits, target, cfg.label_smoothing)
                    largest_probs = logits.detach().softmax(dim=-1)
                    if self.teacher is not None:
                        guide = teacher_probs(self.teacher, x, cfg.precision == "bf16")
                        w = cfg.teacher_weight
                        loss = (1 - w) * loss + w * inplace_distillation_loss(logits, guide)
                    reported = loss.item()
                else:
                    loss = cfg.distill_weight * inplace_distillation_loss(logits, largest_probs)
                loss.backward()
        if not math.isfinite(reported):
            raise HwnasError(f"training diverged: loss {reported} at step {self.step} (try a lower --lr)")
        if cfg.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip_grad)
        self.opt.step()
        self.step += 1
        return reported, lr

    # --- the loop ---------------------------------------------------------------------------
    def run(self, max_steps: int | None, on_step: StepCallback | None, on_epoch: EpochCallback | None) -> None:
        stop = self.total if max_steps is None else min(self.total, max_steps)
        bs, spe = self.cfg.batch_size, self.steps_per_epoch
        while self.step < stop:
            epoch, k = divmod(self.step, spe)
            self.sampler.set_position(epoch, k * bs)
            t0 = time.perf_counter()
            for x, y in batches(self.train_ds, self.sampler, bs, drop_last=True, workers=self.cfg.workers):
                loss, lr = self.train_step(x, y)
                self.epoch_loss = [self.epoch_loss[0] + loss, self.epoch_loss[1] + 1]
                if on_step is not None and self.info.is_main:
                    on_step(self.step, self.total, loss, lr)
                if self.step % spe == 0 or self.step >= stop:
                    break
                if self.cfg.save_every and self.step % self.cfg.save_every == 0:
                    self.save()
            if self.step % spe == 0:
                self._end_epoch(self.step // spe, time.perf_counter() - t0, on_epoch)
            self.save()

    def _end_epoch(self, epoch: int, seconds: float, on_epoch: EpochCallback | None) -> None:
        total, n = self.epoch_loss
        entry: dict[str, Any] = {
            "epoch": epoch,
            "step": self.step,
            "loss": total / max(1, n),
            "train_seconds": round(seconds, 3),
        }
        self.epoch_loss = [0.0, 0]
        every = self.cfg.eval_every
        if self.info.is_main and every and (epoch % every == 0 or epoch == self.cfg.epochs):
            val = load_split(self.data, "val", self.space)
            named = (
                (("subnet", self.only),)
                if self.only is not None
                else (("max", self.space.max_config()), ("min", self.space.min_config()))
            )
            for name, sub in named:
                loader = batches(val, None, 256, workers=self.cfg.workers)
                entry[f"val_top1_{name}"] = round(evaluate(self.net, sub, loader, self.info.device)["top1"], 3)
        self.history.append(entry)
        if on_epoch is not None and self.info.is_main:
            on_epoch(entry)

    def save(self) -> None:
        if not self.info.is_main:
            return
        state = {
            "config": asdict(self.cfg),
            "step": self.step,
            "total_steps": self.total,
            "steps_per_epoch": self.steps_per_epoch,
            "world_size": self.info.world_size,
            "data": self.data,
            "epoch_loss": list(self.epoch_loss),
        }
        extra = (
            {"teacher": {"model": self.teacher.state_dict(), "val_top1": self.teacher_top1}}
            if self.teacher is not None and self.cfg.teacher == "cnn"
            else {}
        )
        save_checkpoint(self.net, self.out, optimizer=self.opt.state_dict(), train=state, history=self.history, **extra)


def _ddp(net: Supernet, info: DistInfo) -> DistributedDataParallel:
    """DDP that tolerates the idle blocks beyond a subnet's depth; its buffers (constant relative-position
    indices) need no syncing."""
    quiet: dict[str, Any] = (
        {"forward_sync_buffers": False}
        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters
        else {"broadcast_buffers": False}
    )
    return DistributedDataParallel(
        net, device_ids=[info.local_rank] if info.device != "cpu" else None, find_unused_parameters=True, **quiet
    )


def _saved_config(ckpt: dict[str, Any], given: TrainConfig) -> TrainConfig:
    """The checkpoint's recipe (a resume must not change it); warns about the values it overrides."""
    known = {f.name for f in fields(TrainConfig)} - set(RUNTIME)
    recipe = {**LEGACY_DEFAULTS, **ckpt["train"]["config"]}
    saved = TrainConfig(**{k: v for k, v in recipe.items() if k in known}, **{k: getattr(given, k) for k in RUNTIME})
    ignored = [
        f"{k}={getattr(given, k)!r} (kept {getattr(saved, k)!r})"
        for k in sorted(known)
        if getattr(given, k) != getattr(saved, k) and getattr(given, k) != getattr(TrainConfig(), k)
    ]
    if ignored:
        warnings.warn("resuming with the checkpoint's recipe; ignored " + ", ".join(ignored), stacklevel=3)
    return saved


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_supernet` did, as this process saw it (rank 0 writes the checkpoint);
    ``to_dict()`` is what ``hwnas train --json`` prints."""

    checkpoint: Path
    rank: int
    step: int
    total_steps: int
    steps_per_epoch: int
    world_size: int
    seconds: float
    history: list[dict[str, Any]]  # one entry per epoch
    teacher_val_top1: float | None  # the CNN teacher's, when one was distilled from
    config: TrainConfig  # the recipe that ran (a resume keeps the checkpoint's)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "checkpoint": str(self.checkpoint)}


def train_supernet(
    space: SearchSpace,
    data: str,
    out: str | Path,
    cfg: TrainConfig | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    max_steps: int | None = None,
    device: str | None = None,
    on_step: StepCallback | None = None,
    on_epoch: EpochCallback | None = None,
) -> TrainResult:
    """Train a supernet of ``space`` on ``data`` ('mnist' or an image folder), checkpointing to ``out``.

    Run under ``torchrun`` for data parallelism. ``resume`` continues from ``out``; ``max_steps``
    stops early (after saving), as an interruption would.
    """
    cfg = (cfg or TrainConfig()).check()
    out = Path(out)
    if out.exists() and not (resume or overwrite):
        raise ConfigError(f"{out} exists: resume it (--resume), overwrite it (--force) or pick another --out")
    joined = torch.distributed.is_available() and torch.distributed.is_initialized()
    threads = torch.get_num_threads()
    info = init_distributed(device, cfg.threads)
    t0 = time.perf_counter()
    try:
        run = _Run(space, data, out, cfg, info, resume)
        try:
            run.run(max_steps, on_step, on_epoch)
        finally:
            run.model = run.net  # DDP's reducer holds the process group: drop it before shutdown frees the group
    finally:
        if not joined:
            shutdown(info)
        torch.set_num_threads(threads)
    return TrainResult(
        checkpoint=out,
        rank=info.rank,
        step=run.step,
        total_steps=run.total,
        steps_per_epoch=run.steps_per_epoch,
        world_size=info.world_size,
        seconds=round(time.perf_counter() - t0, 3),
        history=run.history,
        teacher_val_top1=run.teacher_top1,
        config=run.cfg,
    )
