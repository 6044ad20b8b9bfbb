"""Write the latency records of the store as CSV or Parquet: one row per measurement (a subnet measured
in several visits has several rows), or with --labels one row per subnet, device, space and host.

Columns include id, key, device, space, the config fields (list fields as JSON text), latency_ms (the
central figure; empty for failed records), spread, status and reason, the versions, the batch
``visit`` and the host (``host_id`` and its ``fingerprint``). With --labels: the label latency_ms
(median of the subnet's drift-corrected visits, as 'hwnas fit' uses it) and ``visits``.

examples:
  hwnas records --device cpu --format csv --out cpu.csv
  hwnas records --device cpu --format parquet --out cpu.parquet --db other.db
  hwnas records --format csv            # every device, to stdout
  hwnas records --device cpu --labels   # one label per subnet and host
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hwnas.cli.common import add_workdir, workdir
from hwnas.core.atomic import atomic_write
from hwnas.core.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

HELP = "export latency records as CSV or Parquet"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", metavar="DEVICE", help="only this device (default: all)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="output format (default csv)")
    p.add_argument("--out", metavar="FILE", help="output file (default: stdout for csv)")
    p.add_argument("--db", metavar="FILE", help="latency store (default: latency.db in the run folder)")
    p.add_argument("--ok-only", action="store_true", help="leave out failed records")
    p.add_argument(
        "--labels", action="store_true", help="one row per subnet, device, space and host: its label (ok records)"
    )
    add_workdir(p)


def labels_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (device, space, host, subnet): the label and its number of visits."""
    import pandas as pd

    from hwnas.profiling.labels import labels_of

    cols = ["device", "space", "space_digest", "host_id", "key", "latency_ms", "visits", "fingerprint"]
    parts = [labels_of(g) for _, g in df.groupby(["device", "space_digest", "host_id"], sort=False)]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def run(args: argparse.Namespace) -> int:
    from hwnas.profiling.store import LatencyStore

    db = Path(args.db or workdir(args).store)
    if not db.is_file():
        raise NotFoundError(f"no latency store at {db} (run 'hwnas profile' first, or pass --db)")
    if args.format == "parquet" and not args.out:
        raise ConfigError("--format parquet needs --out FILE")
    out = Path(args.out) if args.out else None
    if out is not None and out.is_dir():
        raise ConfigError(f"--out {out} is a folder; name a file in it")
    if out is not None and not out.parent.is_dir():
        raise NotFoundError(f"--out {out}: no such folder {out.parent}")
    with LatencyStore(db, read_only=True) as store:  # reading never writes
        df = store.to_dataframe(device=args.device)
    if args.ok_only or args.labels:
        df = df[df["status"] == "ok"]
    if args.labels:
        df = labels_table(df)
    if out is None:
        df.to_csv(sys.stdout, index=False)
        return 0
    if args.format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError as e:
            raise ConfigError(f"parquet output needs pyarrow (pip install pyarrow): {e}") from None
        atomic_write(out, lambda f: df.to_parquet(f, index=False))
    else:
        atomic_write(out, lambda f: f.write(df.to_csv(index=False).encode()))
    print(f"wrote {len(df)} records to {out}", file=sys.stderr)
    return 0
