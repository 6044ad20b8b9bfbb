"""Write the latency records of the store as CSV or Parquet (one row per measured subnet).

Columns include key, device, space, the config fields (list fields as JSON text), latency_ms (the
central figure; empty for failed records), spread, status and reason, and the versions.

examples:
  hwnas records --device cpu --format csv --out cpu.csv
  hwnas records --device cpu --format parquet --out cpu.parquet --db other.db
  hwnas records --format csv            # every device, to stdout
"""

from __future__ import annotations

import argparse
import sys

from hwnas.cli.common import add_workdir, workdir
from hwnas.core.errors import ConfigError, NotFoundError

HELP = "export latency records as CSV or Parquet"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", metavar="DEVICE", help="only this device (default: all)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="output format (default csv)")
    p.add_argument("--out", metavar="FILE", help="output file (default: stdout for csv)")
    p.add_argument("--db", metavar="FILE", help="latency store (default: latency.db in the run folder)")
    p.add_argument("--ok-only", action="store_true", help="leave out failed records")
    add_workdir(p)


def run(args: argparse.Namespace) -> int:
    from hwnas.profiling.store import LatencyStore

    db = args.db or workdir(args).store
    from pathlib import Path

    if not Path(db).is_file():
        raise NotFoundError(f"no latency store at {db} (run 'hwnas profile' first, or pass --db)")
    if args.format == "parquet" and not args.out:
        raise ConfigError("--format parquet needs --out FILE")
    with LatencyStore(db) as store:
        df = store.to_dataframe(device=args.device)
    if args.ok_only:
        df = df[df["status"] == "ok"]
    if args.format == "parquet":
        try:
            df.to_parquet(args.out, index=False)
        except ImportError as e:
            raise ConfigError(f"parquet output needs pyarrow (pip install pyarrow): {e}") from None
    else:
        df.to_csv(args.out or sys.stdout, index=False)
    if args.out:
        print(f"wrote {len(df)} records to {args.out}", file=sys.stderr)
    return 0
