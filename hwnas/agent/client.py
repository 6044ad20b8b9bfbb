"""Client of a measuring agent (aiohttp, one short-lived session per call, so it is safe from any thread).

Every failure is an :class:`AgentError` with one line: :class:`AgentUnreachable` when the agent cannot be
reached or goes away mid-batch (refused, reset, timed out: the batch may go to another agent),
:class:`AgentBusy` when it is measuring for someone else, :class:`AgentRefused` when it refuses the
request itself (token, wire version, device definition, model) — retrying elsewhere would not help.
"""

from __future__ import annotations

import asyncio
import json
import math
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from hwnas.agent import wire
from hwnas.core.errors import HwnasError
from hwnas.devices.device import Device
from hwnas.profiling.protocol import Measurement


class AgentError(HwnasError, RuntimeError):
    """A request to an agent failed; the message is one line naming the agent."""


class AgentUnreachable(AgentError, ConnectionError):
    """Refused, reset or timed out: the agent is gone (for now)."""


class AgentBusy(AgentError):
    """The agent is measuring another client's batch."""


class AgentRefused(AgentError):
    """The agent answered and refused (token, version, device definition, model)."""


@dataclass
class RemoteResult:
    """One model's outcome on the agent: a Measurement, or the reason it failed."""

    measurement: Measurement | None
    reason: str = ""
    setup_s: float = float("nan")
    runtime_version: str = ""


@dataclass
class BatchAnswer:
    results: list[RemoteResult]
    fingerprint: dict[str, str]
    name: str
    load_avg: float
    seconds: dict[str, float]
    others_cores: float = math.nan  # cores other processes kept busy on the agent meanwhile; NaN if unknown


class AgentClient:
    """``AgentClient(url, token)``: ``info()`` and ``measure(device, paths, seed)`` against one agent."""

    def __init__(self, url: str, token: str, timeout_s: float = 900.0, connect_timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            self.url = "http://" + self.url
        self.token, self.timeout_s, self.connect_timeout_s = token, timeout_s, connect_timeout_s

    def __repr__(self) -> str:
        return f"AgentClient({self.url!r})"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", wire.WIRE_HEADER: str(wire.WIRE_VERSION)}

    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=None, connect=self.connect_timeout_s, sock_connect=self.connect_timeout_s, sock_read=self.timeout_s
        )

    def info(self) -> dict[str, Any]:
        """The agent's version, name, device definition and host fingerprint (checks the wire version)."""
        return self._run(self._request("GET", "/v1/info"))

    def check(self, device: Device) -> dict[str, Any]:
        """``info()``, refused with one line unless the agent measures ``device`` as defined here."""
        info = self.info()
        theirs = info.get("device")
        bad = (
            wire.device_mismatch(theirs, wire.device_to_wire(device))
            if isinstance(theirs, dict)
            else "it names no device"
        )
        if bad:
            raise AgentRefused(f"agent {self.url}: {bad}")
        return info

    def measure(self, device: Device, paths: list[Path], seed: int = 0) -> BatchAnswer:
        """Upload ``paths`` (streamed) and measure them together on the agent; one result per path."""
        with ExitStack() as stack:
            mp = aiohttp.MultipartWriter("form-data")
            part = mp.append_json({"wire": wire.WIRE_VERSION, "device": wire.device_to_wire(device), "seed": seed})
            part.set_content_disposition("form-data", name="manifest")
            for p in paths:
                part = mp.append(stack.enter_context(open(p, "rb")), {"Content-Type": "application/octet-stream"})
                part.set_content_disposition("form-data", name="model", filename="model.onnx")
            body = self._run(self._request("POST", "/v1/measure", data=mp))
        try:
            results = [
                RemoteResult(
                    wire.measurement_from_wire(r["measurement"]),
                    "",
                    float(r["setup_s"]),
                    str(r.get("runtime_version", "")),
                )
                if r["status"] == "ok"
                else RemoteResult(None, str(r.get("reason", "failed on the agent")))
                for r in body["results"]
            ]
            if len(results) != len(paths):
                raise ValueError("result count")
            return BatchAnswer(
                results,
                {str(k): str(v) for k, v in body["fingerprint"].items()},
                str(body.get("name", "")),
                float(body.get("load_avg", -1.0)),
                dict(body.get("seconds", {})),
                _cores(body.get("others_cores")),
            )
        except (KeyError, TypeError, ValueError):
            raise AgentRefused(f"agent {self.url}: malformed answer") from None

    def _run(self, coro: Any) -> Any:
        try:
            return asyncio.run(coro)
        except AgentError:
            raise
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise AgentUnreachable(f"agent {self.url}: no answer within {self.timeout_s:g} s (timed out)") from None
        except aiohttp.ClientConnectorError as e:
            raise AgentUnreachable(
                f"agent {self.url}: cannot connect ({wire.one_line(e.os_error.strerror or e, 120)})"
            ) from None
        except (aiohttp.ClientError, OSError) as e:
            raise AgentUnreachable(f"agent {self.url}: connection lost ({type(e).__name__})") from None

    async def _request(self, method: str, path: str, data: Any = None) -> dict[str, Any]:
        async with aiohttp.ClientSession(timeout=self._timeout(), headers=self._headers()) as s:
            async with s.request(method, self.url + path, data=data) as r:
                text = await r.text()
                bad = wire.version_mismatch(r.headers.get(wire.WIRE_HEADER), "agent")
                if bad and r.status != 401:
                    raise AgentRefused(f"agent {self.url}: {bad}")
                try:
                    body = json.loads(text) if text else {}
                except ValueError:
                    body = {}
                msg = wire.one_line(body.get("error", text) if isinstance(body, dict) else text, 200)
                if r.status == 401:
                    raise AgentRefused(f"agent {self.url} refused the token (401): check --token-file")
                if r.status == 503:
                    raise AgentBusy(f"agent {self.url}: {msg}")
                if r.status >= 500:
                    raise AgentUnreachable(f"agent {self.url}: server error {r.status}: {msg}")
                if r.status >= 400:
                    raise AgentRefused(f"agent {self.url} refused the request ({r.status}): {msg}")
                if not isinstance(body, dict):
                    raise AgentRefused(f"agent {self.url}: malformed answer")
                return body


def _cores(value: Any) -> float:
    """An agent's ``others_cores`` (absent from older agents, -1 when unknown) as cores or NaN."""
    return float(value) if isinstance(value, (int, float)) and value >= 0 else math.nan
