"""Do measurements depend on the process that takes them? The same subnets measured quietly three
times: twice in one process (passes 1 and 2, one after the other) and once in a second fresh process
(pass 3), each pass the profiling protocol with its reference ladder, one visit per subnet. Prints
the median and spread of the per-subnet ratios pass 2 / pass 1 and pass 3 / pass 2, raw and
ladder-corrected (each pass against its own typical batch).

Why: labels taken in one profiling process predicted later quiet measurements in fresh processes
5 % low (benchmarks/load_labels_quality.py), with no load to explain it.

    python benchmarks/process_offset.py [-n 24] [--space mnist-cpu] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
from record import Table, save

from hwnas.devices.host import cpu_model

PASSES = """
import json, sys, tempfile, os
import numpy as np
from hwnas.core import presets
from hwnas.profiling.labels import labels_of
from hwnas.pipelines.profile import profile_configs
from hwnas.profiling.store import LatencyStore
space = presets.get(sys.argv[1])
cfgs = space.sample_unique(int(sys.argv[3]), np.random.default_rng(5))
out = []
with tempfile.TemporaryDirectory() as tmp:
    for p in range(int(sys.argv[4])):
        with LatencyStore(os.path.join(tmp, f"{p}.db")) as st:
            profile_configs(cfgs, space, sys.argv[2], st, retest=None)
            df = st.to_dataframe()
        df = df[df["status"] == "ok"]
        out.append({"raw": dict(zip(df["key"], df["latency_ms"])),
                    "label": dict(zip(*[labels_of(df)[c] for c in ("key", "latency_ms")]))})
print(json.dumps(out))
"""


def passes(space: str, device: str, n: int, k: int) -> list[dict]:
    cmd = [sys.executable, "-c", PASSES, space, device, str(n), str(k)]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])


def ratios(a: dict, b: dict) -> list:
    """Median, p10 and p90 of the per-subnet ratios b / a (as printed), and their number."""
    r = np.array([b[k] / a[k] for k in a if k in b])
    return [f"{np.median(r):.3f}", f"{np.percentile(r, 10):.3f}", f"{np.percentile(r, 90):.3f}", len(r)]


def ratio(a: dict, b: dict) -> str:
    med, p10, p90, n = ratios(a, b)
    return f"median {med}  (p10 {p10}, p90 {p90}, n {n})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=24)
    ap.add_argument("--space", default="mnist-cpu")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    print(f"{cpu_model()}; {a.n} subnets; quiet machine expected", flush=True)
    one, two = passes(a.space, a.device, a.n, 2), passes(a.space, a.device, a.n, 1)
    table = Table(
        f"Per-subnet ratios between passes, {a.n} subnets of {a.space} on {a.device} (raw figures and labels)",
        ["figure", "passes", "median", "p10", "p90", "n"],
    )
    for fig in ("raw", "label"):
        print(f"{fig:5s} pass 2 / pass 1 (same process):   {ratio(one[0][fig], one[1][fig])}")
        print(f"{fig:5s} pass 3 / pass 2 (fresh process):  {ratio(one[1][fig], two[0][fig])}")
        table.add(fig, "pass 2 / pass 1 (same process)", *ratios(one[0][fig], one[1][fig]))
        table.add(fig, "pass 3 / pass 2 (fresh process)", *ratios(one[1][fig], two[0][fig]))
    save(__file__, [table])


if __name__ == "__main__":
    main()
