"""One training step (forward + backward) of the supernet set to a config, divided by the same step
of the extracted static module. Goal: <= 1.15.

The two are timed interleaved (A, B, A, B, ...) in one process so that machine noise hits both alike;
the ratio of medians is printed.

    python benchmarks/supernet_step.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from record import Notes, Table, save

from hwnas.core import get_space
from hwnas.supernet import Supernet


def step_time(model: torch.nn.Module, x: torch.Tensor) -> float:
    t = time.perf_counter()
    model.zero_grad(set_to_none=True)
    model(x).logsumexp(-1).mean().backward()
    return time.perf_counter() - t


def bench(space_name: str, batch: int, repeats: int) -> list[tuple[str, str, float, float, float]]:
    space = get_space(space_name)
    torch.manual_seed(0)
    net = Supernet(space).train()
    rng = np.random.default_rng(0)
    mid = space.sample(rng)
    rows = []
    for label, cfg in (("smallest", space.min_config()), ("middle", mid), ("largest", space.max_config())):
        net.set_config(cfg)
        static = net.extract(cfg).train()
        x = torch.randn(batch, space.in_chans, space.img_size, space.img_size)
        for _ in range(3):  # warm-up both
            step_time(net, x), step_time(static, x)
        sup, sta = [], []
        for _ in range(repeats):
            sup.append(step_time(net, x))
            sta.append(step_time(static, x))
        s, t = float(np.median(sup)), float(np.median(sta))
        rows.append((space_name, f"{label} {cfg.key()[:28]}", s * 1e3, t * 1e3, s / t))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    notes = Notes()
    notes.say(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    table = Table(
        f"One training step, supernet / extracted static module (median of {args.repeats}; goal <= 1.15)",
        ["space (batch)", "config", "supernet ms", "static ms", "ratio"],
    )
    print(f"{'space':16} {'config':38} {'supernet ms':>11} {'static ms':>10} {'ratio':>6}")
    for space_name, batch in (("mnist-cpu", 64), ("autoformer-tiny", 8)):
        for row in bench(space_name, batch, args.repeats):
            print(f"{row[0]:16} {row[1]:38} {row[2]:11.1f} {row[3]:10.1f} {row[4]:6.3f}")
            table.add(f"{row[0]} ({batch})", row[1], f"{row[2]:.1f}", f"{row[3]:.1f}", f"{row[4]:.3f}")
    save(__file__, [table], notes)


if __name__ == "__main__":
    main()
