"""List the devices latency can be measured on, whether each is usable here, and why not.

examples:
  hwnas devices
  hwnas devices --json
"""

from __future__ import annotations

import argparse

from hwnas.cli.common import print_json

HELP = "list latency devices and whether they are usable here"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    from hwnas.devices import all_devices

    rows = []
    for d in all_devices():
        ok, why = d.available()
        rows.append({"name": d.name, "runtime": d.runtime, "precision": d.precision, "threads": d.threads,
                     "batch": d.batch_size, "usable": ok, "why_not": why, "description": d.description})
    if args.json:
        print_json(rows)
        return 0
    w = max(len(r["name"]) for r in rows)
    print(f"{'device':<{w}}  {'runtime':<11}  {'prec':<4}  thr  usable  notes")
    for r in rows:
        note = r["description"] if r["usable"] else r["why_not"]
        print(f"{r['name']:<{w}}  {r['runtime']:<11}  {r['precision']:<4}  {r['threads']:>3}  "
              f"{'yes' if r['usable'] else 'no':<6}  {note}")
    return 0
