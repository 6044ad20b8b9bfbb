"""Real agent processes on 127.0.0.1 (ephemeral ports), started with torch, pandas and scikit-learn
blocked from import; a quick device from a devices file shared by agents and client."""

from __future__ import annotations

import os
import re
import secrets
import select
import subprocess
import sys
from pathlib import Path

import pytest

from hwnas.core.space import SearchSpace
from hwnas.core.yaml_io import save_space

DEVICES = """
[devices.cpu-quick]
base = "cpu"
rounds = 3
warmup_runs = 3
block_ms = 2.0
max_retries = 0
"""
DEVICE = "cpu-quick"
BLOCKER = """
import sys
class _NoHeavy:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "pandas", "sklearn"):
            raise ImportError(f"{name} is blocked: the agent must run without it")
        return None
sys.meta_path.insert(0, _NoHeavy())
"""


class AgentProc:
    def __init__(self, proc: subprocess.Popen, url: str, banner: str) -> None:
        self.proc, self.url, self.banner = proc, url, banner

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_space: SearchSpace) -> dict[str, str]:
    d = tmp_path_factory.mktemp("agent-files")
    save_space(tiny_space, d / "space.yaml")
    (d / "devices.toml").write_text(DEVICES)
    (d / "token").write_text(secrets.token_urlsafe(32) + "\n")
    (d / "token").chmod(0o600)  # the agent refuses a token file others can read
    (d / "blocker").mkdir()
    (d / "blocker" / "sitecustomize.py").write_text(BLOCKER)
    return {
        "space": str(d / "space.yaml"),
        "devices": str(d / "devices.toml"),
        "token": str(d / "token"),
        "blocker": str(d / "blocker"),
        "dir": str(d),
    }


@pytest.fixture(scope="module")
def start_agent(files):
    """start_agent(*extra_args) -> AgentProc, killed at the end of the module."""
    procs: list[AgentProc] = []

    def start(*extra: str) -> AgentProc:
        # a killed agent cannot remove its upload folder: keep it in the test's own temporary folder
        env = {**os.environ, "PYTHONPATH": files["blocker"], "PYTHONUNBUFFERED": "1", "TMPDIR": files["dir"]}
        cmd = [
            sys.executable,
            "-m",
            "hwnas.cli.main",
            "agent",
            "--devices",
            files["devices"],
            "--device",
            DEVICE,
            "--port",
            "0",
            "--token-file",
            files["token"],
            *extra,
        ]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        ready, _, _ = select.select([p.stdout], [], [], 60)
        banner = p.stdout.readline() if ready else ""
        m = re.search(r"listening on (https?://127\.0\.0\.1:\d+(?:#sha256=[0-9a-f]{64})?)", banner)
        if not m:
            p.kill()
            raise AssertionError(f"agent did not start: {banner!r} {p.stderr.read()[-2000:]!r}")
        a = AgentProc(p, m.group(1), banner)
        procs.append(a)
        return a

    yield start
    for a in procs:
        a.kill()


@pytest.fixture(scope="module")
def token(files) -> str:
    return Path(files["token"]).read_text().strip()


@pytest.fixture(scope="module")
def quick_device(files):
    from hwnas import devices

    return devices.get(DEVICE, devices_file=files["devices"])


@pytest.fixture(scope="module")
def models(files, quick_device, tmp_path_factory):
    """Two exported subnets of the tiny space (min and max)."""
    from hwnas.core.yaml_io import load_space_file
    from hwnas.pipelines.exporter import Exporter

    space = load_space_file(files["space"])
    d = tmp_path_factory.mktemp("models")
    ex = Exporter(space)
    return [ex.export(space.min_config(), d / "min.onnx"), ex.export(space.max_config(), d / "max.onnx")]
