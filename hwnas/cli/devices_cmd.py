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
from typing import TYPE_CHECKING

from hwnas.core.errors import HwnasError
from hwnas.present import print_json, text_table

if TYPE_CHECKING:
    from hwnas.devices import Devices

HELP = "list latency devices and whether they are usable here"


def devices_file(text: str) -> Devices:
    """argparse type of --devices: the file read and validated now, so a bad file fails before any work."""
    from hwnas.devices import Devices

    try:
        return Devices.load(text)
    except HwnasError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def devices_of(args: argparse.Namespace) -> Devices:
    """The devices a command can name: built-in, plus those of --devices FILE, else of the default file."""
    from hwnas.devices import Devices

    given: Devices | None = getattr(args, "devices", None)
    return given or Devices.default()


def add_devices_option(p: argparse.ArgumentParser) -> None:
    """--devices FILE, for every command that takes --device."""
    p.add_argument(
        "--devices",
        type=devices_file,
        metavar="FILE",
        help="devices file (TOML or YAML) defining more devices (default: $HWNAS_DEVICES, else "
        "~/.config/hwnas/devices.toml or .yaml if present)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_devices_option(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.profiling.backends import backend_for, fingerprint

    devices = devices_of(args)
    rows = []
    for d in devices.all():
        ok, why = d.available()
        caveat = backend_for(d).caveat(d)
        rows.append(
            {
                "name": d.name,
                "runtime": d.runtime,
                "precision": d.precision,
                "threads": d.threads,
                "batch": d.batch_size,
                "usable": ok,
                "why_not": why,
                "caveat": caveat,  # usable, but with a warning (e.g. INT8 on a CPU without VNNI)
                "description": d.description,
                "source": devices.source(d.name),
                "host": fingerprint(d) if ok else {},
            }
        )
    if args.json:
        print_json(rows)
        return 0
    print(
        text_table(
            ["device", "runtime", "prec", "threads", "batch", "usable", "notes"],
            [
                [
                    r["name"],
                    r["runtime"],
                    r["precision"],
                    r["threads"],
                    r["batch"],
                    "yes" if r["usable"] else "no",
                    (f"{r['description']}; {r['caveat']}" if r["caveat"] else r["description"])
                    if r["usable"]
                    else r["why_not"],
                ]
                for r in rows
            ],
        )
    )
    path = devices.file
    print(f"user devices: {path}" if path else "user devices: none (define them in a file: --devices FILE)")
    return 0
