"""One measuring path: a fleet of two local measurers and a real agent gives the records the local path gives."""

from __future__ import annotations

from hwnas.agent.client import AgentClient
from hwnas.agent.measurer import AgentMeasurer
from hwnas.core.yaml_io import load_space_file
from hwnas.pipelines.profile import profile_configs
from hwnas.profiling import sampling
from hwnas.profiling.ladder import ladder
from hwnas.profiling.measurer import LocalMeasurer
from hwnas.profiling.store import LatencyStore
from hwnas.profiling.surprise import MAX_VISITS

# what a record says about how it was measured: the same wherever the batch ran on this host
SAME = ("host_id", "host", "threads", "batch_size", "clock", "precision", "runtime", "runtime_version", "provider")
SAME += ("exporter_version", "opset", "timing", "space_digest", "status")


class CountingLocal(LocalMeasurer):
    """This machine, counting the batches it measured."""

    def __init__(self) -> None:
        self.batches = 0

    def measure(self, *args, **kw):  # noqa: ANN002, ANN003, ANN201
        self.batches += 1
        return super().measure(*args, **kw)


def _profile(space, device, db, measurers=None):  # noqa: ANN001, ANN202
    with LatencyStore(db) as store:
        s = profile_configs(sampling.plan(space, 8, 0), space, device, store, measurers=measurers, batch=2, visits=2)
        return s, list(store.records())


def _visits(recs):  # noqa: ANN001, ANN202
    by_key: dict[str, list] = {}
    for r in recs:
        by_key.setdefault(r.key, []).append(r)
    return by_key


def test_two_local_measurers_and_an_agent_give_the_records_of_the_local_path(
    files, start_agent, token, quick_device, tmp_path
):
    space = load_space_file(files["space"])
    agent = start_agent("--name", "agent-m")
    local_a, local_b = CountingLocal(), CountingLocal()
    fleet = [local_a, local_b, AgentMeasurer(AgentClient(agent.url, token))]
    s, fleet_recs = _profile(space, quick_device, tmp_path / "fleet.db", fleet)
    _, local_recs = _profile(space, quick_device, tmp_path / "local.db")

    # every measurer took batches; the agent's records say which agent, the local ones none
    by_agent = [r for r in fleet_recs if r.agent]
    assert local_a.batches and local_b.batches and by_agent and len(by_agent) < len(fleet_recs)
    assert {r.agent for r in by_agent} == {f"agent-m {agent.url}"}
    assert len(s.records) == len(fleet_recs) and all(r.ok for r in fleet_recs + local_recs)

    # the same visits: every subnet of the plan in 2 (up to MAX_VISITS) visits, each in a batch of its own
    fleet_visits, local_visits = _visits(fleet_recs), _visits(local_recs)
    assert set(fleet_visits) == set(local_visits) and len(fleet_visits) == 8
    for by_key in (fleet_visits, local_visits):
        assert all(2 <= len(rs) <= MAX_VISITS and len({r.visit for r in rs}) == len(rs) for rs in by_key.values())

    # the same host and measuring conditions, and the same ladder fields
    assert len({tuple(getattr(r, f) for f in SAME) for r in fleet_recs + local_recs}) == 1
    rungs = len(ladder(space))
    for r in fleet_recs + local_recs:
        assert len(r.refs_ms) == rungs and all(x > 0 for x in r.refs_ms) and r.ref_ms == r.refs_ms[0]
        assert len(r.base_ms) in (0, rungs) and r.runs > 0 and r.latency_ms > 0
    assert any(len(r.base_ms) == rungs for r in local_recs)  # the host's memory took the fleet's batches too
