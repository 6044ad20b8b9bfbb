"""Profiling through real agent processes: a fleet of two, an agent killed mid-run, unreachable agents."""

from __future__ import annotations

import socket
import time
from statistics import median

import pytest

from hwnas.agent.client import AgentClient
from hwnas.agent.measurer import AgentMeasurer
from hwnas.cli.main import main
from hwnas.core.errors import ConfigError
from hwnas.core.yaml_io import load_space_file
from hwnas.pipelines.profile import profile_configs
from hwnas.pipelines.verify import VERIFY_VISITS
from hwnas.profiling import sampling
from hwnas.profiling.fleet import fleet_host
from hwnas.profiling.ladder import ladder
from hwnas.profiling.measurer import LocalMeasurer, MeasurerLost
from hwnas.profiling.record import host_id_of
from hwnas.profiling.store import LatencyStore
from hwnas.profiling.surprise import MAX_VISITS

from .conftest import DEVICE

ONE_VISIT = {"visits": 1, "retest": None}  # the loss tests below count one record per subnet


def _records(db):
    with LatencyStore(db) as store:
        return list(store.records(device=DEVICE))


def test_two_agents_share_16_subnets_in_two_visits_each_with_its_host_and_the_ladder(
    files, start_agent, token, tmp_path, capsys
):
    a, b = start_agent("--name", "agent-a"), start_agent("--name", "agent-b")
    db = tmp_path / "l.db"
    rc = main(
        [
            "profile",
            "--devices",
            files["devices"],
            "--device",
            DEVICE,
            "--space",
            files["space"],
            "-n",
            "16",
            "--db",
            str(db),
            "--batch",
            "4",
            "--agent",
            a.url,
            "--agent",
            b.url,
            "--token-file",
            files["token"],
        ]
    )
    assert rc == 0, capsys.readouterr().err
    recs = _records(db)
    assert len({r.key for r in recs}) == 16 and all(r.ok for r in recs)
    by_key: dict[str, list] = {}
    for r in recs:
        by_key.setdefault(r.key, []).append(r)
    # the default two visits, each in another batch (more where they disagree or surprise)
    assert all(2 <= len(rs) <= MAX_VISITS and len({r.visit for r in rs}) == len(rs) for rs in by_key.values())
    fp = {u: AgentClient(u, token).info()["fingerprint"] for u in (a.url, b.url)}
    by_agent = {u: [r for r in recs if r.agent.endswith(" " + u)] for u in fp}
    assert sum(map(len, by_agent.values())) == len(recs) and all(by_agent.values())  # both measured
    for u, rs in by_agent.items():
        assert {(r.agent.split()[0], r.host, "onnxruntime " + r.runtime_version) for r in rs} == {
            (fp[u]["name"], fp[u]["cpu"], fp[u]["runtime"])
        }
    rungs = len(ladder(load_space_file(files["space"])))
    assert all(r.ref_ms > 0 and len(r.block_ms) == 3 for r in recs)
    assert all(len(r.refs_ms) == rungs and all(x > 0 for x in r.refs_ms) for r in recs)
    assert all(r.ref_ms == r.refs_ms[0] for r in recs)  # rung 0 is the space's smallest subnet


def test_agents_of_two_hosts_are_refused_before_a_remeasuring_run_and_allowed_for_one_visit():
    infos = {
        "http://a:7700": {"fingerprint": {"cpu": "Cpu A", "cores": "4", "runtime": "onnxruntime 1", "name": "a"}},
        "http://b:7700": {"fingerprint": {"cpu": "Cpu B", "cores": "4", "runtime": "onnxruntime 1", "name": "b"}},
    }
    with pytest.raises(ConfigError, match=r"different hosts \(http://a:7700: Cpu A, http://b:7700: Cpu B\)"):
        fleet_host(infos, remeasure=True)
    assert fleet_host(infos, remeasure=False) is None
    infos["http://b:7700"]["fingerprint"] = {**infos["http://a:7700"]["fingerprint"], "name": "b"}
    assert fleet_host(infos, remeasure=True) == host_id_of(infos["http://a:7700"]["fingerprint"])


def test_search_remeasures_the_winner_on_the_agent(files, start_agent, tmp_path, capsys, monkeypatch):
    import json

    a = start_agent()
    run = tmp_path / "run"
    common = ["--devices", files["devices"], "--space", files["space"], "--workdir", str(run)]
    agent = ["--agent", a.url, "--token-file", files["token"]]
    assert main(["profile", "--device", DEVICE, "-n", "24", *common, *agent]) == 0
    capsys.readouterr()
    assert main(["fit", "--device", DEVICE, "--families", "ridge", "--no-curve", *common]) == 0
    assert "retest median" in capsys.readouterr().out  # a store profiled on agents knows its own noise
    monkeypatch.setattr(LocalMeasurer, "measure", lambda *a, **k: pytest.fail("measured locally"))
    capsys.readouterr()
    rc = main(
        [
            "search",
            "--device",
            DEVICE,
            "--latency-ms",
            "50",
            "--objective",
            "params",
            "--margin",
            "0.1",
            "--population",
            "4",
            "--generations",
            "1",
            *common,
            *agent,
        ]
    )
    assert rc == 0, capsys.readouterr().err
    measured = json.loads((run / "search" / "report.json").read_text())["winner"]["latency"][DEVICE]
    assert measured["measured_ms"] > 0 and measured["within_budget"]
    assert len(measured["visits_ms"]) == VERIFY_VISITS and measured["measured_ms"] == median(measured["visits_ms"])


def _kill_when_busy(agent, token):
    """A progress callback that kills ``agent`` while it measures a batch (once)."""
    done = []

    def progress(rec, n, total):
        if done:
            return
        c = AgentClient(agent.url, token, timeout_s=5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not c.info()["busy"]:
            time.sleep(0.005)
        agent.kill()
        done.append(n)

    return progress, done


def test_agent_killed_mid_run_batch_moves_to_the_other(files, start_agent, token, quick_device, tmp_path):
    space = load_space_file(files["space"])
    a, b = start_agent(), start_agent()
    progress, killed_at = _kill_when_busy(a, token)
    lines: list[str] = []
    with LatencyStore(tmp_path / "l.db") as store:
        s = profile_configs(
            sampling.plan(space, 16, 0),
            space,
            quick_device,
            store,
            measurers=[AgentMeasurer(AgentClient(a.url, token)), AgentMeasurer(AgentClient(b.url, token))],
            batch=2,
            progress=progress,
            log=lines.append,
            **ONE_VISIT,
        )
        recs = list(store.records())
    assert killed_at and len(recs) == 16 and len({r.key for r in recs}) == 16 and len(s.records) == 16
    lost = [ln for ln in lines if "lost" in ln]
    assert lost and a.url in lost[0] and f"moved to {b.url}" in lost[0]
    lost_keys = lost[0].split("in progress: ")[1].split(" -> ")[0].split(", ")
    assert lost_keys and all(r.agent.endswith(b.url) for r in recs if r.key in lost_keys)


def test_only_agent_killed_exits_with_committed_records_kept_and_rerun_resumes(
    files, start_agent, token, quick_device, tmp_path
):
    space = load_space_file(files["space"])
    a = start_agent()
    progress, killed_at = _kill_when_busy(a, token)
    db = tmp_path / "l.db"
    plan = sampling.plan(space, 12, 0)
    only_a = [AgentMeasurer(AgentClient(a.url, token))]
    with LatencyStore(db) as store, pytest.raises(MeasurerLost, match="no measurer left: .* rerun"):
        profile_configs(plan, space, quick_device, store, measurers=only_a, batch=2, progress=progress, **ONE_VISIT)
    kept = {r.key for r in _records(db)}
    assert killed_at and killed_at[0] <= len(kept) < 12
    b = start_agent()
    with LatencyStore(db) as store:
        only_b = [AgentMeasurer(AgentClient(b.url, token))]
        s = profile_configs(plan, space, quick_device, store, measurers=only_b, batch=2, **ONE_VISIT)
    recs = _records(db)
    assert s.skipped == len(kept) and len(recs) == 12 and len({r.key for r in recs}) == 12


def test_refused_connection_and_timeout_are_one_line_exit_2(files, tmp_path, capsys):
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    closed_port = free.getsockname()[1]
    free.close()
    mute = socket.socket()  # accepts connections (backlog) but never answers
    mute.bind(("127.0.0.1", 0))
    mute.listen(4)
    try:
        for url, why in (
            (f"http://127.0.0.1:{closed_port}", "cannot connect"),
            (f"http://127.0.0.1:{mute.getsockname()[1]}", "no answer within 1 s"),
        ):
            rc = main(
                [
                    "profile",
                    "--devices",
                    files["devices"],
                    "--device",
                    DEVICE,
                    "--space",
                    files["space"],
                    "-n",
                    "2",
                    "--db",
                    str(tmp_path / "l.db"),
                    "--agent",
                    url,
                    "--token-file",
                    files["token"],
                    "--agent-timeout",
                    "1",
                ]
            )
            err = capsys.readouterr().err
            assert rc == 2 and why in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    finally:
        mute.close()
