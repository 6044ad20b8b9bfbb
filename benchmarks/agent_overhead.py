"""The same subnets measured locally and through an agent on this machine, interleaved in one run:
per-subnet agreement against the local test-retest noise, the per-subnet transfer overhead, and the
agent's sandbox overhead per batch (a child process with limits: start, imports, one probe run per model,
minus the child's own opening and measuring) beside the up-front model checks.

Each round measures the whole batch locally (same code as the agent: open, measure_batch, close) and
then through the agent, alternating which goes first; the local figures of two rounds give the noise a
remote figure is judged against. Run it on a quiet machine:

    python benchmarks/agent_overhead.py --device cpu -n 16 --rounds 2
    python benchmarks/agent_overhead.py --devices quick.toml --device cpu-quick --space tiny.yaml -n 4  # a check
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import Notes, Table, save

from hwnas import devices
from hwnas.agent.client import AgentClient
from hwnas.agent.sandbox import Limits, Sandbox
from hwnas.agent.validate import check_model
from hwnas.core import presets
from hwnas.devices.host import cpu_model
from hwnas.pipelines.exporter import Exporter, export_batch
from hwnas.profiling import sampling
from hwnas.profiling.measurer import measure_files


def start_agent(args: argparse.Namespace, token_file: Path) -> tuple[subprocess.Popen, str]:
    cmd = [
        sys.executable,
        "-m",
        "hwnas.cli.main",
        "agent",
        "--device",
        args.device,
        "--port",
        "0",
        "--token-file",
        str(token_file),
    ] + (["--devices", args.devices] if args.devices else [])
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline() if p.stdout else ""
    m = re.search(r"listening on (https?://127\.0\.0\.1:\d+(?:#sha256=[0-9a-f]{64})?)", line)
    if not m:
        p.kill()
        sys.exit(f"the agent did not start: {line!r}")
    return p, m.group(1)


def rel(a: float, b: float) -> float:
    return abs(a - b) / min(a, b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--devices", default=None, help="devices file (for the agent too)")
    ap.add_argument("--space", default="mnist-cpu", help="preset or AutoFormer YAML")
    ap.add_argument("-n", type=int, default=16, help="subnets (one batch)")
    ap.add_argument("--rounds", type=int, default=2, help="local and remote measurements of each (>= 2)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    device, space = devices.get(args.device, devices_file=args.devices), presets.get(args.space)
    cfgs = sampling.plan(space, args.n, args.seed)
    with tempfile.TemporaryDirectory(prefix="agent-overhead-") as tmp:
        token = Path(tmp) / "token"
        token.write_text(secrets.token_urlsafe(32))
        token.chmod(0o600)
        proc, url = start_agent(args, token)
        try:
            client = AgentClient(url, token.read_text())
            fp = client.check(device)["fingerprint"]
            batch = export_batch(Exporter(space, seed=args.seed), device, space, cfgs, Path(tmp))
            paths, failed = batch.paths, batch.failed
            keys = [k for k in paths]
            local: dict[str, list[float]] = {k: [] for k in keys}
            remote: dict[str, list[float]] = {k: [] for k in keys}
            overhead: list[float] = []
            sandbox_s: list[float] = []
            checks_s: list[float] = []
            for r in range(max(2, args.rounds)):
                for side in ("local", "remote") if r % 2 == 0 else ("remote", "local"):
                    if side == "local":
                        results = measure_files(device, list(paths.values()), args.seed + r).results
                        for k, res in zip(keys, results):
                            local[k].append(res.measurement.latency_ms if res.measurement else float("nan"))
                        t0 = time.perf_counter()
                        for p in paths.values():
                            check_model(p)
                        checks_s.append(time.perf_counter() - t0)
                        t0 = time.perf_counter()
                        boxed = Sandbox(Limits()).run(device, list(paths.values()), args.seed + r, [])
                        sandbox_s.append(time.perf_counter() - t0 - boxed.child_s)
                    else:
                        t0 = time.perf_counter()
                        ans = client.measure(device, list(paths.values()), seed=args.seed + r)
                        wall = time.perf_counter() - t0
                        overhead.append((wall - ans.seconds.get("measure", 0.0)) / len(keys))
                        for k, res in zip(keys, ans.results):
                            remote[k].append(res.measurement.latency_ms if res.measurement else float("nan"))
        finally:
            proc.kill()
            proc.wait(10)
    notes = Notes()
    notes.say(
        f"CPU: {cpu_model()}  (agent: {fp['cpu']}, {fp['runtime']})  device {device.name}, "
        f"space {space.name}, {len(keys)} models incl. the reference ladder, {max(2, args.rounds)} rounds"
    )
    table = Table(
        "Each subnet measured locally and through the agent: the first three rounds' figures, the local "
        "test-retest (worst pair) and the agent's median against the local one",
        ["subnet", "local ms", "retest", "agent ms", "agent vs local"],
    )
    print(f"{'subnet':34} {'local ms':>18} {'retest':>7} {'agent ms':>18} {'agent vs local':>14}")
    noise, agree = [], []
    for k in keys:
        lo, re_ = local[k], remote[k]
        n = max(rel(a, b) for i, a in enumerate(lo) for b in lo[i + 1 :])
        a = rel(statistics.median(re_), statistics.median(lo))
        noise.append(n)
        agree.append(a)
        print(
            f"{k[:34]:34} {' '.join(f'{x:.3f}' for x in lo[:3]):>18} {100 * n:6.1f}% "
            f"{' '.join(f'{x:.3f}' for x in re_[:3]):>18} {100 * a:13.1f}%"
        )
        table.add(
            k,
            " ".join(f"{x:.3f}" for x in lo[:3]),
            f"{100 * n:.1f} %",
            " ".join(f"{x:.3f}" for x in re_[:3]),
            f"{100 * a:.1f} %",
        )
    notes.say(
        f"local test-retest (worst pair): median {100 * statistics.median(noise):.1f} %, worst {100 * max(noise):.1f} %"
    )
    notes.say(
        f"agent vs local (medians):       median {100 * statistics.median(agree):.1f} %,"
        f" worst {100 * max(agree):.1f} %;"
        f" within the subnet's own retest noise for {sum(a <= n for a, n in zip(agree, noise))}/{len(keys)}"
    )
    notes.say(
        f"transfer overhead per subnet (request wall time minus the agent's measuring, per model): "
        f"median {1e3 * statistics.median(overhead):.1f} ms over {len(overhead)} batches"
    )
    notes.say(
        f"sandbox overhead per batch (child process start, imports, limits; its own opening and measuring "
        f"left out): median {statistics.median(sandbox_s):.2f} s over {len(sandbox_s)} batches of {len(keys)}; "
        f"up-front model checks: median {1e3 * statistics.median(checks_s) / len(keys):.0f} ms per model"
    )
    if failed:
        notes.say(f"export failures: {failed}")
    save(__file__, [table], notes)


if __name__ == "__main__":
    main()
