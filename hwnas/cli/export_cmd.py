"""Export a subnet to ONNX as a static model holding only its weights.

Weights: --checkpoint, else (without --space) the run folder's trained supernet if there is one, else (or with
--random-weights) the supernet's seeded random initial ones, enough for latency work.
With --subnet omitted, the winner of the last search in the run folder is exported.
With --device, the subnet is written in that device's deployed form, for its batch size and precision: an
INT8 device's quantized ONNX model with its FP32 twin beside it (NAME.fp32.onnx), a torch device's
torch.export program (.pt2).
--format safetensors writes the subnet for PyTorch (hwnas.load_model(FILE) gives an nn.Module; nothing is
pickled), --format torch a torch.export program; MODEL.md, the model card, is written beside every
export but a --device one.

examples:
  hwnas export --space autoformer-tiny --subnet AutoFormer-T.yaml --out t.onnx
  hwnas export --space autoformer-tiny --subnet max --checkpoint supernet-tiny.pth --out t.onnx
  hwnas export --subnet min --checkpoint hwnas-run/supernet.pt --dynamic-batch --out min.onnx
  hwnas export                                  # the last search winner, with the run folder's weights
  hwnas export --device cpu-int8 --out winner.onnx   # INT8 winner.onnx + its FP32 twin winner.fp32.onnx
  hwnas export --subnet min --device cpu-torch --out min.pt2
  hwnas export --format safetensors            # the winner for PyTorch: winner.safetensors + MODEL.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hwnas.cli.common import add_space, add_workdir, positive_int, workdir
from hwnas.cli.devices_cmd import add_devices_option, devices_of
from hwnas.core.errors import ConfigError

HELP = "export a subnet (with supernet weights) to ONNX"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_space(p, default=None)
    p.add_argument(
        "--subnet",
        metavar="SUBNET",
        help="RETRAIN YAML, 'max' or 'min' (default: the last search winner in the run folder)",
    )
    p.add_argument(
        "--checkpoint",
        metavar="CKPT",
        help="hwnas or AutoFormer supernet checkpoint (default: the run folder's, if any)",
    )
    p.add_argument("--random-weights", action="store_true", help="ignore the run folder's checkpoint")
    p.add_argument("--out", metavar="FILE", help="ONNX file to write (default: next to the subnet YAML)")
    p.add_argument(
        "--format",
        choices=("onnx", "safetensors", "torch"),
        default=None,
        help="onnx, safetensors (PyTorch: hwnas.load_model) or torch (.pt2) (default: --out's suffix, else onnx)",
    )
    p.add_argument("--batch-size", type=positive_int, default=1, help="static batch size (default 1)")
    p.add_argument("--dynamic-batch", action="store_true", help="make the batch axis dynamic")
    p.add_argument("--opset", type=positive_int, default=None, help="ONNX opset (default 17)")
    p.add_argument("--fp16", action="store_true", help="export FP16 weights and activations")
    p.add_argument(
        "--device",
        metavar="DEVICE",
        default=None,
        help="write the subnet as DEVICE deploys it (e.g. cpu-int8: quantized, with its FP32 twin beside it)",
    )
    add_devices_option(p)
    p.add_argument(
        "--data",
        metavar="mnist|DIR",
        default=None,
        help="calibration images of int8-static devices (default: the checkpoint's training data, else mnist)",
    )
    add_workdir(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.pipelines.export import SUFFIXES, export_subnet, format_of

    rd, subnet = workdir(args), args.subnet
    checkpoint = args.checkpoint
    if checkpoint is None and args.space is None and not args.random_weights and rd.supernet.is_file():
        checkpoint = str(rd.supernet)
    if subnet is None:
        subnet = str(rd.search / "winner.yaml")
        if not Path(subnet).is_file():
            raise ConfigError(
                f"no --subnet given and no search winner at {subnet} (run 'hwnas search' first, or pass --subnet)"
            )
    if args.device:
        if args.format:
            raise ConfigError("with --device, the device decides the format: drop --format")
        return _deployed(args, subnet, checkpoint)
    fmt = format_of(args.out, args.format)
    suffix = SUFFIXES[fmt]
    out = args.out or (str(Path(subnet).with_suffix(suffix)) if subnet not in ("max", "min") else f"{subnet}{suffix}")
    r = export_subnet(
        subnet,
        out,
        space=args.space,
        checkpoint=checkpoint,
        batch_size=args.batch_size,
        dynamic_batch=args.dynamic_batch,
        opset=args.opset,
        fp16=args.fp16,
        format=fmt,
        card=True,
    )
    print(
        f"wrote {r.path} and {r.card}  ({r.key}, {r.params:,} params, weights: {checkpoint or 'random'}, "
        f"max |{'onnxruntime' if fmt == 'onnx' else 'loaded file'} - torch| = {r.max_abs_diff:.2e})"
    )
    return 0


def _deployed(args: argparse.Namespace, subnet: str, checkpoint: str | None) -> int:
    from hwnas.pipelines.deployed import export_deployed, model_suffix

    device = devices_of(args).get(args.device)
    if args.fp16 or args.dynamic_batch or args.opset:
        raise ConfigError(
            "with --device, the device decides precision, batch and format: drop --fp16, --dynamic-batch and --opset"
        )
    suffix = model_suffix(device)
    out = args.out or (str(Path(subnet).with_suffix(suffix)) if subnet not in ("max", "min") else f"{subnet}{suffix}")
    key, m = export_deployed(subnet, out, device, space=args.space, checkpoint=checkpoint, data=args.data)
    twin = f", FP32 twin {m.fp32_path}" if m.fp32_path != m.path else ""
    made = f", quantized in {m.quantize_s:.1f} s" if m.quantize_s else ""
    print(f"wrote {m.path}  ({key} for {device.name}: {m.precision}{twin}{made}; weights: {checkpoint or 'random'})")
    return 0
