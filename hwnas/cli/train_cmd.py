"""Train a weight-entangled supernet: the largest subnet first, then the sandwich rule (default), or
AutoFormer's uniform recipe, or one subnet alone.

Writes the checkpoint (atomically, every epoch) to the run folder's supernet.pt unless --out says
otherwise. --data is 'mnist' (the bundled 5,000-image sample, no download) or an image folder
(ROOT/train/<class>/*, ROOT/val/<class>/* or ROOT/<class>/*). For several processes or GPUs, start
it with torchrun; only rank 0 writes and prints.

examples:
  hwnas train                                   # bundled MNIST, space mnist-cpu, default recipe
  hwnas train --strategy uniform --epochs 20 --out uniform.pt   # AutoFormer's recipe
  hwnas train --strategy single --subnet e96-d4-m2,2,2,2-h2,2,2,2 --out alone.pt   # one subnet alone
  hwnas train --resume                          # continue the run folder's checkpoint
  torchrun --nproc_per_node 2 -m hwnas train --data /data/imagenet --space autoformer-tiny \\
      --epochs 300 --batch-size 128 --mixup 0.8 --cutmix 1.0 --drop-path 0.1
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from hwnas.cli.common import add_space, add_workdir, positive_float, positive_int, seed, workdir
from hwnas.present import Progress, log

# The recipe's choices and default, repeated here so that --help needs no torch (a test keeps them equal).
STRATEGIES, PRECISIONS, DEFAULT_EPOCHS = ("sandwich", "uniform", "single"), ("auto", "fp32", "bf16"), 12
TEACHERS = ("none", "cnn")

HELP = "train a supernet (bundled MNIST or an image folder; torchrun for DDP)"


def _non_negative_float(text: str) -> float:
    return 0.0 if text in ("0", "0.0") else positive_float(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_space(p)
    p.add_argument(
        "--data",
        default="mnist",
        metavar="mnist|DIR",
        help="'mnist' (bundled) or an image folder in the ImageNet layout (default: mnist)",
    )
    p.add_argument("--epochs", type=positive_int, default=None, help=f"epochs (default {DEFAULT_EPOCHS})")
    p.add_argument("--batch-size", type=positive_int, default=None, help="images per process and step (default 32)")
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=None,
        help="sandwich (default): largest + random ones + smallest each step, the others distilled "
        "in place from the largest; uniform: one random subnet per step (AutoFormer); single: "
        "only --subnet, i.e. that subnet trained alone (the baseline for inherited weights)",
    )
    p.add_argument("--num-random", type=int, default=None, help="sandwich: random subnets per step (default 1)")
    p.add_argument(
        "--largest-first",
        type=_non_negative_float,
        default=None,
        metavar="SHARE",
        help="sandwich: share of the steps that train only the largest subnet before the others join "
        "(progressive shrinking; default 0.45)",
    )
    p.add_argument(
        "--distill-weight",
        type=_non_negative_float,
        default=None,
        metavar="W",
        help="sandwich: weight of each smaller subnet's distillation loss against the largest's own loss "
        "(default 0.5: the largest keeps half of every step's gradient)",
    )
    p.add_argument(
        "--teacher",
        choices=TEACHERS,
        default=None,
        help="none (default): labels only; cnn: a small CNN trained first (~15 s on the bundled data) guides "
        "the largest subnet, as DeiT's convnet teacher does (no gain measured on the bundled data)",
    )
    p.add_argument(
        "--teacher-weight",
        type=_non_negative_float,
        default=None,
        metavar="W",
        help="share of the largest subnet's loss taken from the teacher's predictions, 0..1 (default 0.5)",
    )
    p.add_argument("--teacher-epochs", type=positive_int, default=None, help="the CNN teacher's epochs (default 8)")
    p.add_argument(
        "--subnet",
        metavar="KEY",
        default=None,
        help="with --strategy single: the subnet key to train, e.g. e96-d4-m2,2,2,2-h2,2,2,2",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="peak learning rate (default 1e-3, x sqrt(total batch / 1024) above 1024)",
    )
    p.add_argument("--warmup-epochs", type=_non_negative_float, default=None, help="linear warm-up (default 0.4)")
    p.add_argument("--weight-decay", type=_non_negative_float, default=None, help="AdamW weight decay (default 0.05)")
    p.add_argument("--smoothing", type=_non_negative_float, default=None, help="label smoothing (default 0.1)")
    p.add_argument("--drop-path", type=_non_negative_float, default=None, help="stochastic depth rate (default 0)")
    p.add_argument("--mixup", type=_non_negative_float, default=None, help="mixup alpha (default 0: off)")
    p.add_argument("--cutmix", type=_non_negative_float, default=None, help="cutmix alpha (default 0: off)")
    p.add_argument(
        "--no-affine",
        dest="affine",
        action="store_const",
        const=False,
        default=None,
        help="bundled data: no random rotation (+-10 deg) / scale (+-10%%) / shift (+-2 px) per step",
    )
    p.add_argument(
        "--clip-grad", type=_non_negative_float, default=None, help="max gradient norm (default 1.0; 0: no clipping)"
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="auto (default): bf16 autocast where the CPU or GPU computes bfloat16 natively (AVX512-BF16, AMX, "
        "recent GPUs; about 1.7x faster here), else fp32",
    )
    p.add_argument("--workers", type=int, default=None, help="data-loading processes for image folders (default 0)")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch threads per process (default: OMP_NUM_THREADS, else cores / processes; "
        "1 is much faster on a machine other jobs keep busy)",
    )
    p.add_argument(
        "--seed", type=seed, default=None, help="seed of weights, data order and subnet sampling (default 0)"
    )
    p.add_argument("--out", metavar="CKPT", default=None, help="checkpoint file (default: RUN_FOLDER/supernet.pt)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint with its exact state")
    p.add_argument("--force", action="store_true", help="start afresh even if the checkpoint exists")
    p.add_argument(
        "--max-steps",
        type=positive_int,
        default=None,
        help="stop (and save) after this many steps in all, e.g. to split a run in parts",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    add_workdir(p)


_FIELDS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "strategy": "strategy",
    "num_random": "num_random",
    "largest_first": "largest_first",
    "distill_weight": "distill_weight",
    "teacher": "teacher",
    "teacher_weight": "teacher_weight",
    "teacher_epochs": "teacher_epochs",
    "lr": "lr",
    "warmup_epochs": "warmup_epochs",
    "weight_decay": "weight_decay",
    "smoothing": "label_smoothing",
    "drop_path": "drop_path",
    "mixup": "mixup",
    "cutmix": "cutmix",
    "subnet": "subnet",
    "affine": "affine",
    "clip_grad": "clip_grad",
    "precision": "precision",
    "workers": "workers",
    "threads": "threads",
    "seed": "seed",
}


def reporter() -> tuple[Callable[[int, int, float, float], None], Callable[[dict[str, Any]], None], Callable[[], None]]:
    """Step and epoch callbacks, and a close: a bar (loss, lr) on a terminal; otherwise a 'step N/T' line
    every 2 % of the steps. Epoch lines either way."""
    bars: list[Progress] = []  # made at the first step, which is past 1 when resuming

    def on_step(step: int, total: int, loss: float, lr: float) -> None:
        if not bars:
            bars.append(Progress(total, "train", unit="step", every=max(1, total // 50), initial=step - 1))
        bars[0].step(f"loss {loss:.3f}  lr {lr:.2e}", line=f"step {step}/{total}  loss {loss:.4f}  lr {lr:.2e}")

    def on_epoch(e: dict[str, Any]) -> None:
        val = "".join(f"  val top1 {k[9:]} {v:.2f}%" for k, v in e.items() if k.startswith("val_top1_"))
        line = f"epoch {e['epoch']}  loss {e['loss']:.4f}  {e['train_seconds']:.1f}s{val}"
        (bars[0].write if bars else log)(line)

    def close() -> None:
        for bar in bars:
            bar.close()

    return on_step, on_epoch, close


def run(args: argparse.Namespace) -> int:
    from hwnas.cli.common import print_json, space_of
    from hwnas.core.errors import ConfigError
    from hwnas.core.publish import check_writable
    from hwnas.supernet.train import TrainConfig, train_supernet

    if args.resume and args.force:
        raise ConfigError("--resume and --force contradict each other")
    given = {f: getattr(args, a) for a, f in _FIELDS.items() if getattr(args, a) is not None}
    out = args.out or str(workdir(args).ensure().supernet)
    if Path(out).is_dir():
        raise ConfigError(f"--out {out} is a folder; name the checkpoint file")
    check_writable(Path(out).parent)  # a read-only folder is refused now, not after the training
    on_step, on_epoch, close = reporter()
    try:
        r = train_supernet(
            space_of(args),
            args.data,
            out,
            TrainConfig(**given),
            resume=args.resume,
            overwrite=args.force,
            max_steps=args.max_steps,
            on_step=on_step,
            on_epoch=on_epoch,
        )
    finally:
        close()
    if r.rank == 0:
        if args.json:
            print_json(r)
        else:
            last = r.history[-1] if r.history else {}
            acc = (
                f", val top1 max {last['val_top1_max']:.2f}% min {last['val_top1_min']:.2f}%"
                if "val_top1_max" in last
                else ""
            )
            if r.teacher_val_top1 is not None:
                acc += f", CNN teacher val top1 {r.teacher_val_top1:.2f}%"
            print(f"wrote {r.checkpoint} (step {r.step}/{r.total_steps}, {r.seconds:.0f}s{acc})")
    return 0
