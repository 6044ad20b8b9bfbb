"""The time-sized protocol: when a subnet's rounds stop, its time cap, the ladder's share, live sessions.

The runners here are fakes with a known distribution of run times (no time passes): what is under test
is the protocol's rule, not a runtime. Real sessions are timed in test_protocol.py.
"""

import math

import numpy as np
import pytest

from hwnas.core import presets
from hwnas.core.complexity import count_macs
from hwnas.devices import get
from hwnas.profiling import protocol
from hwnas.profiling.ladder import ladder
from hwnas.profiling.protocol import label_halfwidth, measure_batch


class FakeRunner:
    """Runs of ``ms`` times a lognormal factor of sd ``noise``, plus a slow tail (interference only adds)."""

    releasable = True

    def __init__(self, ms: float, noise: float, seed: int = 0, tail: float = 0.2) -> None:
        self.ms, self.noise, self.tail, self.rng = ms, noise, tail, np.random.default_rng(seed)
        self.spent = 0.0  # ms of runs handed out, warm-up included
        self.live = False
        self.released = 0

    def time_runs(self, k: int) -> list[float]:
        self.live = True
        runs = self.ms * np.exp(self.rng.normal(0, self.noise, k)) * (1 + (self.rng.random(k) < self.tail) * 0.3)
        self.spent += float(runs.sum())
        return [float(x) for x in runs]

    def release(self) -> None:
        self.live, self.released = False, self.released + 1

    def close(self) -> None:
        self.live = False


def test_the_interval_narrows_with_runs_and_widens_with_noise():
    rng = np.random.default_rng(0)
    tight, wide = 50 * np.exp(rng.normal(0, 0.002, 200)), 50 * np.exp(rng.normal(0, 0.1, 200))
    assert label_halfwidth(tight) < 0.01 < label_halfwidth(wide)
    assert label_halfwidth(wide[:20]) > label_halfwidth(wide)  # fewer runs, wider interval
    assert label_halfwidth(tight[:1]) == math.inf


def test_a_tight_slow_subnet_stops_after_the_floors():
    dev = get("cpu")
    m = measure_batch({"a": FakeRunner(60.0, 0.002, tail=0.0)}, dev, np.random.default_rng(0))["a"]
    assert len(m.block_ms) == dev.min_rounds and m.runs == dev.min_rounds  # a few runs, not 40
    assert m.latency_ms == pytest.approx(60.0, rel=0.01)


def test_a_noisy_subnet_stops_at_the_time_cap():
    dev = get("cpu")
    r = FakeRunner(150.0, 0.15)  # the cap (1 s) comes before the 10 rounds
    m = measure_batch({"a": r}, dev, np.random.default_rng(0))["a"]
    timed = r.spent - sum(r.ms for _ in range(m.warmup_runs))  # about: warm-up runs are slow-tailed too
    assert m.runs < dev.rounds and dev.max_ms <= m.runs * 150 * 1.4 and timed < dev.max_ms * 1.5


def test_a_very_slow_subnet_gets_its_minimum_blocks_past_the_cap():
    dev = get("cpu")
    m = measure_batch({"a": FakeRunner(800.0, 0.002, tail=0.0)}, dev, np.random.default_rng(0))["a"]
    assert len(m.block_ms) == protocol.MIN_BLOCKS and m.warmup_runs == 3


def test_a_1ms_subnet_keeps_at_least_the_fixed_protocols_rounds():
    dev = get("cpu")  # the fixed protocol: 10 rounds of 20 ms blocks, at least 10 warm-up runs
    m = measure_batch({"a": FakeRunner(1.0, 0.002)}, dev, np.random.default_rng(0))["a"]
    assert len(m.block_ms) >= 10 and m.runs >= 200 and m.warmup_runs >= 10


class ScriptedRunner(FakeRunner):
    """Hands out ``script`` first, then steady runs of ``ms``."""

    def __init__(self, ms: float, script: list[float]) -> None:
        super().__init__(ms, 0.0, tail=0.0)
        self.script = list(script)

    def time_runs(self, k: int) -> list[float]:
        out = [self.script.pop(0) if self.script else self.ms for _ in range(k)]
        self.spent += sum(out)
        return out


def test_a_slow_start_is_left_to_the_warm_up():
    # one-run chunks for a 60 ms model: 90, 78 and 60 ms are not steady; the second 60 is
    m = measure_batch({"a": ScriptedRunner(60.0, [90.0, 78.0, 60.0])}, get("cpu"), np.random.default_rng(0))["a"]
    assert m.warmup_runs == 4 and m.block_ms == [60.0] * get("cpu").min_rounds and m.latency_ms == 60.0


@pytest.mark.parametrize("name", ["mnist-cpu", "autoformer-tiny", "autoformer-small"])
def test_the_ladder_takes_at_most_15_percent_of_a_batchs_time(name):
    # run times proportional to MACs: mnist-cpu 0.5-6 ms, AutoFormer 45-250 ms
    space = presets.get(name)
    per_gmac = {"mnist-cpu": 0.03, "autoformer-tiny": 0.033, "autoformer-small": 0.035}[name]
    rng = np.random.default_rng(1)
    runners = {
        f"s{i}": FakeRunner(count_macs(space, space.sample(rng)) / 1e9 * per_gmac * 1e3, 0.01, i) for i in range(16)
    }
    rungs = {
        f"r{j}": FakeRunner(count_macs(space, c) / 1e9 * per_gmac * 1e3, 0.01, 100 + j)
        for j, c in enumerate(ladder(space))
    }
    res = measure_batch({**runners, **rungs}, get("cpu"), np.random.default_rng(0), references=list(rungs))
    assert all(not isinstance(v, str) for v in res.values()) and all(len(res[k].refs) == len(rungs) for k in runners)
    share = sum(r.spent for r in rungs.values()) / sum(r.spent for r in [*runners.values(), *rungs.values()])
    assert share <= protocol.LADDER_SHARE


def _sessions_of(everyone: dict, monkeypatch) -> list[int]:  # noqa: ANN001
    """Resident bytes = 300 MB per live fake session; returns the peak count of live sessions."""
    peak = [0]

    def rss() -> int:
        live = sum(r.live for r in everyone.values())
        peak[0] = max(peak[0], live)
        return live * (300 << 20)

    monkeypatch.setattr(protocol, "resident_bytes", rss)
    return peak


def test_live_sessions_stay_within_the_memory_budget(monkeypatch):
    # 300 MB per session, rungs included in a 1300 MiB budget: two rungs and at most two subnets at once
    runners = {f"s{i}": FakeRunner(50.0, 0.002, i) for i in range(6)}
    rungs = {"r0": FakeRunner(40.0, 0.002, 10), "r1": FakeRunner(70.0, 0.002, 11)}
    everyone = {**runners, **rungs}
    peak = _sessions_of(everyone, monkeypatch)
    dev = get("cpu").with_(session_mib=1300)
    res = measure_batch(everyone, dev, np.random.default_rng(0), references=list(rungs))
    assert all(res[k].latency_ms == pytest.approx(50.0, rel=0.01) for k in runners)
    assert peak[0] == 2 + len(rungs) and all(r.released == 1 for r in runners.values())
    assert all(r.released == 0 for r in rungs.values())  # the ladder stays alive for the whole batch


def test_sessions_opened_before_the_batch_count_against_the_budget(monkeypatch):
    # the measurer opened four subnets up front (as many as fit): the first group is those four, no more
    runners = {f"s{i}": FakeRunner(50.0, 0.002, i) for i in range(8)}
    for k in ("s0", "s1", "s2", "s3"):
        runners[k].time_runs(1)
    peak = _sessions_of(runners, monkeypatch)
    res = measure_batch(runners, get("cpu").with_(session_mib=1250), np.random.default_rng(0), base_bytes=0)
    assert all(not isinstance(v, str) for v in res.values())
    assert peak[0] == 4  # the four (what they hold sizes a session): none opened beside them, never 4 + 4
