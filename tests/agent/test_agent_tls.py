"""TLS agents with pinned certificates: a small fleet profiles end to end over TLS; a client pinned to
another certificate is refused with one line and nothing is measured; plain HTTP beyond loopback refused."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from hwnas.agent.client import AgentClient, AgentRefused
from hwnas.agent.tls import cert_fingerprint, host_port, make_self_signed, split_pin
from hwnas.cli.main import main
from hwnas.profiling.store import LatencyStore

from .conftest import DEVICE


@pytest.fixture(scope="module")
def tls_agents(start_agent, tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    return [
        start_agent("--name", f"tls-{i}", "--tls-cert", str(d / f"{i}.crt"), "--tls-key", str(d / f"{i}.key"))
        for i in range(2)
    ], d


def test_agent_makes_a_self_signed_pair_and_prints_its_fingerprint(tls_agents, token):
    agents, d = tls_agents
    for i, a in enumerate(agents):
        base, pin = split_pin(a.url)
        assert base.startswith("https://127.0.0.1:") and pin == cert_fingerprint(d / f"{i}.crt")
        assert (d / f"{i}.key").stat().st_mode & 0o777 == 0o600
        assert AgentClient(a.url, token).info()["name"] == f"tls-{i}"


def _profile(files, tmp_path, *agent_args: str) -> tuple[int, str]:
    db = tmp_path / "l.db"
    cmd = [sys.executable, "-m", "hwnas.cli.main", "profile", "--devices", files["devices"], "--device", DEVICE]
    cmd += ["--space", files["space"], "-n", "3", "--db", str(db), "--token-file", files["token"], *agent_args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stderr


def _records(db):
    if not db.exists():
        return []
    with LatencyStore(db) as store:
        return list(store.records(device=DEVICE))


def test_a_fleet_over_tls_with_pinned_certificates_profiles_end_to_end(tls_agents, files, tmp_path, token, capsys):
    agents, _ = tls_agents
    pins = tmp_path / "pins"
    pins.write_text("".join(f"{host_port(split_pin(a.url)[0])} {split_pin(a.url)[1]}\n" for a in agents))
    args = ["--agent", agents[0].url, "--agent", split_pin(agents[1].url)[0], "--agent-pins", str(pins)]
    rc = main(
        ["profile", "--devices", files["devices"], "--device", DEVICE, "--space", files["space"], "-n", "4",
         "--batch", "2", "--db", str(tmp_path / "l.db"), "--token-file", files["token"], *args]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    recs = _records(tmp_path / "l.db")
    assert len({r.key for r in recs}) == 4 and all(r.ok and r.latency_ms > 0 for r in recs)
    assert {r.agent.split()[0] for r in recs} == {"tls-0", "tls-1"}  # both measured


def test_a_client_pinned_to_another_certificate_is_refused_and_nothing_is_measured(
    tls_agents, files, tmp_path, token, quick_device, models
):
    agents, _ = tls_agents
    make_self_signed(tmp_path / "other.crt", tmp_path / "other.key", "other")
    wrong = split_pin(agents[0].url)[0] + "#sha256=" + cert_fingerprint(tmp_path / "other.crt")
    with pytest.raises(AgentRefused, match="not the pinned one") as e:
        AgentClient(wrong, token).measure(quick_device, models[:1])
    assert "\n" not in str(e.value)
    rc, err = _profile(files, tmp_path, "--agent", wrong)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "not the pinned one" in err, err
    assert "Traceback" not in err and _records(tmp_path / "l.db") == []
    # an https agent whose certificate is neither pinned nor signed by an authority: refused, told how to pin
    with pytest.raises(AgentRefused, match=r"TLS failed.*#sha256="):
        AgentClient(split_pin(agents[0].url)[0], token).info()


def test_plain_http_beyond_loopback_is_refused_unless_insecure(files):
    cmd = [sys.executable, "-m", "hwnas.cli.main", "agent", "--devices", files["devices"], "--device", DEVICE]
    p = subprocess.run(
        cmd + ["--host", "0.0.0.0", "--port", "0", "--token-file", files["token"]],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.returncode == 2 and re.search(r"--host 0\.0\.0\.0 reaches other machines.*--tls-cert", p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1
