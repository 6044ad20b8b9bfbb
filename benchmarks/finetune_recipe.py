"""Which fine-tune learning rate: short fine-tunes of a search winner from its inherited weights, one
per peak lr, compared on the same test images (paired) with the inherited weights and with each other.

Needs a finished quick start (a run folder with supernet.pt and search/winner.yaml). Prints a table and
writes the figures as JSON; the CPU model and the wall time are part of them.

usage: python benchmarks/finetune_recipe.py --workdir hwnas-run [--lrs 1e-4 3e-4] [--epochs 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from record import Notes, Table, save

from hwnas.devices.host import cpu_model
from hwnas.pipelines.finetune import DEFAULT_EPOCHS, DEFAULT_WARMUP_EPOCHS, finetune, resolve_target
from hwnas.pipelines.fitness import InheritedAccuracy
from hwnas.search.significance import mcnemar_p, paired_difference


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="hwnas-run")
    ap.add_argument("--subnet", default=None, help="default: the run folder's search winner")
    ap.add_argument("--lrs", type=float, nargs="+", default=[1e-4, 3e-4])
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the figures here too")
    args = ap.parse_args()
    run = Path(args.workdir)
    checkpoint, subnet = run / "supernet.pt", args.subnet or str(run / "search" / "winner.yaml")
    space, cfg, _ = resolve_target(checkpoint, subnet)
    t0 = time.perf_counter()
    inherited = InheritedAccuracy(space, checkpoint, "mnist", precision="fp32").hits(cfg, "test")
    rows, hits = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for lr in args.lrs:
            recipe = {"lr": lr, "epochs": args.epochs, "warmup_epochs": DEFAULT_WARMUP_EPOCHS, "threads": args.threads}
            r = finetune(checkpoint, subnet, Path(tmp) / f"lr{lr:g}", recipe)
            assert r.comparison is not None
            hits[lr] = InheritedAccuracy(space, Path(r.files["checkpoint"]), "mnist", precision="fp32").hits(
                cfg, "test"
            )
            c = r.comparison
            rows.append(
                {
                    "lr": lr,
                    "steps": r.total_steps,
                    "train_s": r.train_seconds,
                    "inherited_top1": c.inherited_top1,
                    "finetuned_top1": c.finetuned_top1,
                    "diff": c.diff,
                    "diff_ci": [c.diff_ci_low, c.diff_ci_high],
                    "p": c.p_value,
                }
            )
    a, b = args.lrs[0], args.lrs[-1]
    d, lo, hi = paired_difference(hits[b], hits[a])
    out = {
        "subnet": cfg.key(),
        "space": space.name,
        "test_images": int(inherited.size),
        "cpu": cpu_model(),
        "threads": args.threads,
        "epochs": args.epochs,
        "runs": rows,
        f"lr {b:g} - lr {a:g}": {"diff": d, "ci": [lo, hi], "p": mcnemar_p(hits[b], hits[a])},
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    notes = Notes()
    notes.say(f"{cfg.key()} on {space.name}, {inherited.size} test images, {cpu_model()}, {args.threads} thread(s)")
    table = Table(
        f"Fine-tunes of {cfg.key()} ({args.epochs} epochs each), test top-1 against the inherited weights (paired)",
        ["lr", "steps", "train s", "inherited", "fine-tuned", "diff (95% CI)", "p"],
    )
    print(f"{'lr':>8} {'steps':>6} {'train s':>8} {'inherited':>10} {'fine-tuned':>11} {'diff (95% CI)':>24} {'p':>8}")
    for r in rows:
        print(
            f"{r['lr']:>8g} {r['steps']:>6} {r['train_s']:>8.0f} {r['inherited_top1']:>9.2f}% "
            f"{r['finetuned_top1']:>10.2f}% {r['diff']:>+7.2f} ({r['diff_ci'][0]:+.2f} to {r['diff_ci'][1]:+.2f}) "
            f"{r['p']:>8.3g}"
        )
        table.add(
            f"{r['lr']:g}",
            r["steps"],
            f"{r['train_s']:.0f}",
            f"{r['inherited_top1']:.2f} %",
            f"{r['finetuned_top1']:.2f} %",
            f"{r['diff']:+.2f} ({r['diff_ci'][0]:+.2f} to {r['diff_ci'][1]:+.2f})",
            f"{r['p']:.3g}",
        )
    p_lrs = out[f"lr {b:g} - lr {a:g}"]["p"]
    notes.say(f"lr {b:g} - lr {a:g}: {d:+.2f} points (95% CI {lo:+.2f} to {hi:+.2f}), p = {p_lrs:.3g}")
    notes.say(f"wall time {out['wall_s']:.0f} s")
    save(__file__, [table], notes, data=out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
