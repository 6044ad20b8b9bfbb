"""The speedup map: the same subnets measured as FP32 ONNX (`cpu`), static INT8 (`cpu-int8`), dynamic INT8
(`cpu-int8-dynamic`) and PyTorch eager (`cpu-torch`), all interleaved in the same batch with the profiling
protocol (hwnas.profiling.protocol.measure_batch: one runner per subnet and form, 1 thread, thread CPU time).

Prints per subnet the latency of each form and its speedup over FP32 ONNX (above 1: faster), then per form
the median and range of the speedup, the subnets where it is slower than FP32, and Kendall's tau between the
FP32 and that form's latency ranking. For mnist-cpu it also scores each subnet's FP32 and INT8 top-1 on the
validation split (weights from --checkpoint; without one, random weights: the accuracy is chance, noted).
autoformer-tiny is measured with random weights, latency only. Quantization time is shown, never timed.

Run it on a quiet machine (it is long: -n 12 mnist-cpu subnets and --tiny-n 4 autoformer-tiny ones take
tens of minutes); `-n 2 --tiny-n 0` is a smoke run.

    python benchmarks/precision_map.py [-n 12] [--tiny-n 4] [--checkpoint hwnas-run/supernet.pt] [--rounds 10]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from record import Notes, Table, save
from scipy.stats import kendalltau

from hwnas import devices
from hwnas.core import presets
from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.devices.host import cpu_model, native_int8
from hwnas.pipelines.deployed import DeployedScorer, deploy_subnet, model_suffix
from hwnas.profiling.backends import open_runner
from hwnas.profiling.protocol import Measurement, measure_batch
from hwnas.profiling.quantize import calibration_images
from hwnas.supernet.resolve import supernet_for

FORMS = ("cpu", "cpu-int8", "cpu-int8-dynamic", "cpu-torch")
FP32 = "cpu"


def subnets(space: SearchSpace, n: int, seed: int) -> list[SubnetConfig]:
    """The smallest, the largest, then random ones: ``n`` in all."""
    rest = space.sample_unique(max(0, n - 2), np.random.default_rng(seed))
    return ([space.min_config(), space.max_config()] + rest)[:n]


def deploy_all(
    space: SearchSpace, checkpoint: str | None, cfgs: list[SubnetConfig], folder: Path, seed: int
) -> tuple[dict[tuple[str, str], Path], dict[tuple[str, str], float], dict[tuple[str, str], str]]:
    """Every subnet in every form: (key, form) -> file, quantization seconds, and failures."""
    net = supernet_for(space, checkpoint, seed)
    calibration = calibration_images(space, "mnist", devices.get("cpu-int8").calibration, seed)
    files, seconds, failed = {}, {}, {}
    for cfg in cfgs:
        static = net.extract(cfg).eval()
        for form in FORMS:
            device = devices.get(form)
            out = folder / f"{cfg.key()}.{form}{model_suffix(device)}"
            try:
                model = deploy_subnet(static, out, device, calibration)
            except Exception as e:  # a subnet that does not quantize is reported, not fatal
                failed[cfg.key(), form] = f"{type(e).__name__}: {e}"
                continue
            files[cfg.key(), form], seconds[cfg.key(), form] = model.path, model.quantize_s
    return files, seconds, failed


def measure(files: dict[tuple[str, str], Path], rounds: int, seed: int) -> dict[tuple[str, str], float]:
    """latency_ms of every file, all measured together (interleaved) with the protocol."""
    protocol = devices.get(FP32).with_(rounds=rounds)  # every form is timed as `cpu` times FP32
    runners = {f"{key}|{form}": open_runner(devices.get(form), path, seed=seed) for (key, form), path in files.items()}
    try:
        results = measure_batch(runners, protocol, np.random.default_rng(seed))
    finally:
        for r in runners.values():
            r.close()
    out = {}
    for name, m in results.items():
        key, form = name.split("|")
        if isinstance(m, Measurement):
            out[key, form] = m.latency_ms
        else:
            print(f"  {key} {form}: {m}")
    return out


def report_latency(
    name: str, cfgs: list[SubnetConfig], lat: dict[tuple[str, str], float], secs: dict[tuple[str, str], float]
) -> list[Table]:
    keys = [c.key() for c in cfgs]
    w = max(len(k) for k in keys) + 2
    print(f"{'subnet':{w}}" + "".join(f"{f + ' ms':>20}" for f in FORMS) + f"{'quantize s (st/dyn)':>22}")
    table = Table(
        f"{name}: latency of each form (ms; in brackets its speedup over FP32 ONNX) and quantization time",
        ["subnet", *(f"{f} ms" for f in FORMS), "quantize s (st/dyn)"],
    )
    for k in keys:
        cells = []
        for f in FORMS:
            ms = lat.get((k, f), np.nan)
            ratio = lat.get((k, FP32), np.nan) / ms
            cells.append(f"{ms:>11.3f}" + (f" ({ratio:4.2f}x)" if f != FP32 else " " * 8))
        q = f"{secs.get((k, 'cpu-int8'), np.nan):.1f} / {secs.get((k, 'cpu-int8-dynamic'), np.nan):.1f}"
        print(f"{k:{w}}" + "".join(f"{c:>20}" for c in cells) + f"{q:>22}")
        table.add(k, *(" ".join(c.split()) for c in cells), q)
    print("speedup over FP32 ONNX (FP32 ms / form ms; below 1: slower than FP32):")
    speedups = Table(
        f"{name}: speedup over FP32 ONNX per form (FP32 ms / form ms; below 1: slower than FP32)",
        ["form", "median", "range", "Kendall tau vs FP32", "slower than FP32"],
    )
    for f in FORMS[1:]:
        both = [k for k in keys if (k, f) in lat and (k, FP32) in lat]
        if not both:
            continue
        ratio = np.array([lat[k, FP32] / lat[k, f] for k in both])
        slower = [k for k, r in zip(both, ratio) if r < 1]
        tau = kendalltau([lat[k, FP32] for k in both], [lat[k, f] for k in both])[0] if len(both) > 2 else np.nan
        print(
            f"  {f:18} median {np.median(ratio):.2f}x  range {ratio.min():.2f}x-{ratio.max():.2f}x  "
            f"Kendall tau vs FP32 {tau:.2f}  slower than FP32 on {len(slower)}/{len(both)}"
            + (f": {', '.join(slower)}" if slower else "")
        )
        speedups.add(
            f,
            f"{np.median(ratio):.2f}x",
            f"{ratio.min():.2f}x-{ratio.max():.2f}x",
            f"{tau:.2f}",
            f"{len(slower)}/{len(both)}" + (f": {', '.join(slower)}" if slower else ""),
        )
    return [table, speedups]


def report_accuracy(space: SearchSpace, checkpoint: str | None, cfgs: list[SubnetConfig], seed: int) -> Table:
    note = "" if checkpoint else "  (random weights: accuracy is chance; pass --checkpoint for real figures)"
    print(f"FP32 -> INT8 top-1 on the validation split{note}")
    w = max(len(c.key()) for c in cfgs) + 2
    print(f"{'subnet':{w}}{'FP32 %':>8}{'static %':>10}{'drop':>7}{'dynamic %':>11}{'drop':>7}")
    table = Table(
        f"{space.name}: FP32 -> INT8 top-1 on the validation split" + ("" if checkpoint else ", random weights"),
        ["subnet", "FP32 %", "static %", "drop", "dynamic %", "drop"],
    )
    scorers = [DeployedScorer(d, checkpoint, space=space, seed=seed) for d in ("cpu-int8", "cpu-int8-dynamic")]
    for cfg in cfgs:
        st, dy = (s.score(cfg) for s in scorers)
        print(
            f"{cfg.key():{w}}{st.fp32_top1:>8.1f}{st.deployed_top1:>10.1f}{st.drop:>+7.1f}"
            f"{dy.deployed_top1:>11.1f}{dy.drop:>+7.1f}"
        )
        table.add(
            cfg.key(),
            f"{st.fp32_top1:.1f}",
            f"{st.deployed_top1:.1f}",
            f"{st.drop:+.1f}",
            f"{dy.deployed_top1:.1f}",
            f"{dy.drop:+.1f}",
        )
    return table


def run_space(
    name: str, n: int, checkpoint: str | None, rounds: int, seed: int, accuracy: bool, notes: Notes
) -> list[Table]:
    space = presets.get(name)
    cfgs = subnets(space, n, seed)
    weights = checkpoint or "random weights"
    print()
    notes.say(f"== {name}: {len(cfgs)} subnets, {weights}, forms {', '.join(FORMS)}, {rounds} interleaved rounds")
    with tempfile.TemporaryDirectory(prefix="precision-map-") as tmp:
        files, secs, failed = deploy_all(space, checkpoint, cfgs, Path(tmp), seed)
        for (key, form), why in failed.items():
            notes.say(f"  {key} {form}: not deployable: {why}")
        lat = measure(files, rounds, seed)
    tables = report_latency(name, cfgs, lat, secs)
    if accuracy:
        tables.append(report_accuracy(space, checkpoint, cfgs, seed))
    return tables


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=12, help="mnist-cpu subnets (default 12; the smallest, largest, random)")
    ap.add_argument("--tiny-n", type=int, default=4, help="autoformer-tiny subnets (default 4; 0: skip the space)")
    ap.add_argument("--checkpoint", default=None, help="trained mnist-cpu supernet (default: random weights)")
    ap.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10, as the devices)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    notes = Notes()
    notes.say(
        f"CPU: {cpu_model()} (int8 dot-product instructions: {'yes' if native_int8() else 'no'})  |  "
        f"torch {torch.__version__}  |  1 thread, batch 1, thread CPU time, p10 latency"
    )
    tables = []
    if args.n > 0:
        tables += run_space("mnist-cpu", args.n, args.checkpoint, args.rounds, args.seed, accuracy=True, notes=notes)
    if args.tiny_n > 0:
        tables += run_space("autoformer-tiny", args.tiny_n, None, args.rounds, args.seed, accuracy=False, notes=notes)
    save(__file__, tables, notes)


if __name__ == "__main__":
    main()
