"""Fine-tune a subnet from the weights it inherits from the supernet (by default: the search winner).

It is 'hwnas train --strategy single' started from the trained supernet rather than from scratch: the
same resumable checkpoint (FOLDER/finetune.pt, saved every epoch), progress lines and torchrun support.
At the end the subnet is compared with its inherited self on the same test images, and FOLDER gets
model.safetensors (load it with hwnas.load_model), finetune.json and MODEL.md. --teacher largest lets
the starting supernet's largest subnet guide it. The default recipe (2 epochs, lr 3e-4) was chosen by
benchmarks/finetune_recipe.py on the bundled data.

examples:
  hwnas finetune                                # the run folder's winner -> hwnas-run/finetune/
  hwnas finetune --subnet min --epochs 5 --teacher largest --out min-ft
  hwnas finetune --resume                       # continue an interrupted fine-tune
  hwnas finetune --data /data/imagenet --checkpoint supernet.pt --subnet winner.yaml --out ft
  torchrun --nproc_per_node 2 -m hwnas finetune --data /data/imagenet --out ft
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from hwnas.cli.common import add_space, add_workdir, positive_float, positive_int, seed, workdir
from hwnas.core.errors import ConfigError

HELP = "fine-tune a subnet (default: the search winner) from its inherited weights"
TEACHERS = ("none", "largest", "cnn")  # the pipeline's, repeated so that --help needs no torch
_FIELDS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "warmup_epochs": "warmup_epochs",
    "weight_decay": "weight_decay",
    "smoothing": "label_smoothing",
    "drop_path": "drop_path",
    "teacher": "teacher",
    "teacher_weight": "teacher_weight",
    "affine": "affine",
    "precision": "precision",
    "workers": "workers",
    "threads": "threads",
    "seed": "seed",
}


def _non_negative(text: str) -> float:
    return 0.0 if text in ("0", "0.0") else positive_float(text)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_space(p, default=None)
    p.add_argument("--checkpoint", metavar="CKPT", help="the trained supernet (default: RUN_FOLDER/supernet.pt)")
    p.add_argument(
        "--subnet",
        metavar="SUBNET",
        help="RETRAIN YAML, 'max', 'min' or a subnet key (default: the run folder's search winner)",
    )
    p.add_argument("--data", default="mnist", metavar="mnist|DIR", help="'mnist' (bundled) or an image folder")
    p.add_argument("--out", metavar="FOLDER", help="where to write (default: RUN_FOLDER/finetune)")
    p.add_argument("--epochs", type=positive_int, default=None, help="epochs (default 2)")
    p.add_argument("--lr", type=positive_float, default=None, help="peak learning rate (default 3e-4)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="images per process and step (default 32)")
    p.add_argument("--warmup-epochs", type=_non_negative, default=None, help="linear warm-up (default 0.1)")
    p.add_argument("--weight-decay", type=_non_negative, default=None, help="AdamW weight decay (default 0.05)")
    p.add_argument("--smoothing", type=_non_negative, default=None, help="label smoothing (default 0.1)")
    p.add_argument("--drop-path", type=_non_negative, default=None, help="stochastic depth rate (default 0)")
    p.add_argument(
        "--teacher",
        choices=TEACHERS,
        default=None,
        help="none (default): labels only; largest: the starting supernet's largest subnet guides it; "
        "cnn: a small CNN trained first",
    )
    p.add_argument("--teacher-weight", type=_non_negative, default=None, help="teacher's share, 0..1 (default 0.5)")
    p.add_argument(
        "--no-affine",
        dest="affine",
        action="store_const",
        const=False,
        default=None,
        help="bundled data: no random rotation / scale / shift per step",
    )
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None, help="as for 'hwnas train'")
    p.add_argument("--workers", type=int, default=None, help="data-loading processes for image folders (default 0)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch threads per process")
    p.add_argument("--seed", type=seed, default=None, help="seed of data order and augmentation (default 0)")
    p.add_argument("--resume", action="store_true", help="continue FOLDER/finetune.pt with its exact state")
    p.add_argument("--force", action="store_true", help="start afresh even if FOLDER/finetune.pt exists")
    p.add_argument("--max-steps", type=positive_int, default=None, help="stop (and save) after this many steps")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_workdir(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.cli.common import print_json
    from hwnas.cli.train_cmd import reporter
    from hwnas.pipelines.finetune import finetune

    if args.resume and args.force:
        raise ConfigError("--resume and --force contradict each other")
    rd = workdir(args)
    checkpoint = args.checkpoint or str(rd.supernet)
    subnet = args.subnet or str(rd.search / "winner.yaml")
    if args.subnet is None and not Path(subnet).is_file():
        raise ConfigError(f"no --subnet given and no search winner at {subnet} (run 'hwnas search' first)")
    recipe: dict[str, Any] = {f: getattr(args, a) for a, f in _FIELDS.items() if getattr(args, a) is not None}
    on_step, on_epoch, close = reporter()
    try:
        r = finetune(
            checkpoint,
            subnet,
            args.out or str(rd.root / "finetune"),
            recipe,
            space=args.space,
            data=args.data,
            resume=args.resume,
            overwrite=args.force,
            max_steps=args.max_steps,
            on_step=on_step,
            on_epoch=on_epoch,
        )
    finally:
        close()
    if r.rank != 0:
        return 0
    if args.json:
        print_json(r.to_dict())
    elif not r.done:
        print(f"wrote {r.files['checkpoint']} (step {r.step}/{r.total_steps}); continue with --resume")
    elif r.comparison is not None:
        c = r.comparison
        print(
            f"wrote {r.files['model']}, {r.files['card']} ({r.key}): test top-1 {c.inherited_top1:.2f}% inherited "
            f"-> {c.finetuned_top1:.2f}% fine-tuned ({c.diff:+.2f} points, 95% CI {c.diff_ci_low:+.2f} to "
            f"{c.diff_ci_high:+.2f}, McNemar p={c.p_value:.3g}; {c.images} images) in {r.train_seconds:.0f}s"
        )
    return 0
