"""List the devices latency can be measured on, whether each is usable here, and why not.

Built-in devices, plus those of a devices file (TOML or YAML): --devices FILE, else $HWNAS_DEVICES,
else ~/.config/hwnas/devices.toml (or .yaml). A file defines devices by name, e.g.

  [devices.cpu-2t-b4]
  runtime = "onnxruntime"
  threads = 2
  batch_size = 4

examples:
  hwnas devices
  hwnas devices --json
  hwnas devices --devices my-devices.toml
"""

from __future__ import annotations

import argparse

from hwnas.cli.common import print_json
from hwnas.core.errors import HwnasError

HELP = "list latency devices and whether they are usable here"


def devices_file(text: str) -> str:
    """argparse type of --devices: reads and validates the file now, so later steps can use its devices."""
    from hwnas.devices import use_file

    try:
        use_file(text)
    except HwnasError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def add_devices_option(p: argparse.ArgumentParser) -> None:
    """--devices FILE, for every command that takes --device."""
    p.add_argument("--devices", type=devices_file, metavar="FILE",
                   help="devices file (TOML or YAML) defining more devices (default: $HWNAS_DEVICES, else "
                        "~/.config/hwnas/devices.toml or .yaml if present)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_devices_option(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.devices import all_devices, source, user_file
    from hwnas.profiling.backends import fingerprint

    rows = []
    for d in all_devices():
        ok, why = d.available()
        rows.append({"name": d.name, "runtime": d.runtime, "precision": d.precision, "threads": d.threads,
                     "batch": d.batch_size, "usable": ok, "why_not": why, "description": d.description,
                     "source": source(d.name), "host": fingerprint(d) if ok else {}})
    if args.json:
        print_json(rows)
        return 0
    w = max(len(r["name"]) for r in rows)
    print(f"{'device':<{w}}  {'runtime':<11}  {'prec':<4}  thr  batch  usable  notes")
    for r in rows:
        note = r["description"] if r["usable"] else r["why_not"]
        print(f"{r['name']:<{w}}  {r['runtime']:<11}  {r['precision']:<4}  {r['threads']:>3}  {r['batch']:>5}  "
              f"{'yes' if r['usable'] else 'no':<6}  {note}")
    path = user_file()
    print(f"user devices: {path}" if path else "user devices: none (define them in a file: --devices FILE)")
    return 0
