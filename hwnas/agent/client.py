"""Client of a measuring agent (aiohttp, one short-lived session per call, so it is safe from any thread).

It trusts no answer: requests are signed with the token and answers must carry the agent's signature over
this request's nonce (:mod:`hwnas.agent.auth`); an ``https://`` agent's certificate is pinned by its SHA-256
(``https://HOST:PORT#sha256=FINGERPRINT``, or ``pins``) or else verified by the system's authorities; an
answer is size-capped, has a total deadline, and every field is validated (:mod:`hwnas.agent.answer`),
the fingerprint of a measuring answer equal to the one ``info`` gave.

Every failure is an :class:`AgentError` with one line: :class:`AgentUnreachable` when the agent cannot be
reached or goes away mid-batch (refused, reset, timed out: the batch may go to another agent),
:class:`AgentBusy` when it is measuring for someone else, :class:`AgentRefused` when it refuses the
request, or its answer or certificate is refused here — retrying elsewhere would not help.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import ssl
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from hwnas.agent import answer, auth, tls, wire
from hwnas.core.errors import HwnasError
from hwnas.devices.device import Device
from hwnas.profiling.protocol import Measurement

MAX_ANSWER_BYTES = 16 << 20


class AgentError(HwnasError, RuntimeError):
    """A request to an agent failed; the message is one line naming the agent."""


class AgentUnreachable(AgentError, ConnectionError):
    """Refused, reset or timed out: the agent is gone (for now)."""


class AgentBusy(AgentError):
    """The agent is measuring another client's batch."""


class AgentRefused(AgentError):
    """The agent refused the request (token, version, device definition, model), or this client refused
    its answer or its certificate."""


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
    """``AgentClient(url, token)``: ``info()`` and ``measure(device, paths, seed)`` against one agent.

    ``url`` may end in ``#sha256=FINGERPRINT`` (the agent's certificate); ``pins`` maps ``HOST:PORT`` to
    fingerprints (a pins file). ``timeout_s`` bounds a whole request, answer included."""

    def __init__(
        self,
        url: str,
        token: str,
        timeout_s: float = 900.0,
        connect_timeout_s: float = 10.0,
        pins: dict[str, str] | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        base, pin = tls.split_pin(url.strip())
        base = base.rstrip("/")
        if not base.startswith(("http://", "https://")):
            base = "http://" + base
        self.url = base
        self.pin = pin or (pins or {}).get(tls.host_port(base))
        if self.pin and not base.startswith("https://"):
            raise AgentRefused(f"agent {base}: a pinned certificate needs an https:// address")
        self.token, self.timeout_s, self.connect_timeout_s = token, timeout_s, connect_timeout_s
        self.max_answer_bytes = max_answer_bytes
        self._fingerprint: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"AgentClient({self.url!r})"

    def _ssl(self) -> Any:
        if self.pin:
            return aiohttp.Fingerprint(bytes.fromhex(self.pin))
        return True if self.url.startswith("https://") else False

    def info(self) -> dict[str, Any]:
        """The agent's version, name, device definition and host fingerprint (checks the wire version)."""
        body = self._run(self._request("GET", "/v1/info"))
        try:
            fp = answer.strings(body.get("fingerprint"), "fingerprint")
            answer.text(body.get("name", ""), "name", 200)
            answer.mapping(body.get("device"), "device")
        except answer.BadAnswer as e:
            raise AgentRefused(f"agent {self.url}: refused its answer: {e}") from None
        self._fingerprint = fp
        return body

    def check(self, device: Device) -> dict[str, Any]:
        """``info()``, refused with one line unless the agent measures ``device`` as defined here."""
        info = self.info()
        bad = wire.device_mismatch(info["device"], wire.device_to_wire(device))
        if bad:
            raise AgentRefused(f"agent {self.url}: {bad}")
        return info

    def measure(self, device: Device, paths: list[Path], seed: int = 0, references: Sequence[int] = ()) -> BatchAnswer:
        """Upload ``paths`` (streamed) and measure them together on the agent; one result per path."""
        if self._fingerprint is None:
            self.info()
        models = [{"sha256": _file_sha256(p)} for p in paths]
        manifest = json.dumps(
            {
                "wire": wire.WIRE_VERSION,
                "device": wire.device_to_wire(device),
                "seed": seed,
                "models": models,
                "references": list(references),
            }
        ).encode()
        with ExitStack() as stack:
            mp = aiohttp.MultipartWriter("form-data")
            part = mp.append(manifest, {"Content-Type": "application/json"})
            part.set_content_disposition("form-data", name="manifest")
            for p in paths:
                part = mp.append(stack.enter_context(open(p, "rb")), {"Content-Type": "application/octet-stream"})
                part.set_content_disposition("form-data", name="model", filename="model.onnx")
            body = self._run(self._request("POST", "/v1/measure", data=mp, body_digest=auth.digest(manifest)))
        try:
            return self._batch(body, len(paths))
        except answer.BadAnswer as e:
            raise AgentRefused(f"agent {self.url}: refused its answer: {e}") from None

    def _batch(self, body: dict[str, Any], n: int) -> BatchAnswer:
        results = answer.listing(body.get("results"), "results", n)
        if len(results) != n:
            raise answer.BadAnswer(f"{len(results)} results for {n} models")
        out = []
        for i, r in enumerate(answer.mapping(x, f"results[{i}]") for i, x in enumerate(results)):
            what = f"results[{i}]"
            if r.get("status") == "ok":
                out.append(
                    RemoteResult(
                        answer.measurement(r.get("measurement"), f"{what}.measurement"),
                        "",
                        answer.number(r.get("setup_s"), f"{what}.setup_s", 0.0, answer.MAX_SECONDS, lo_open=False),
                        answer.text(r.get("runtime_version", ""), f"{what}.runtime_version", 100),
                    )
                )
            elif r.get("status") == "failed":
                out.append(RemoteResult(None, wire.one_line(answer.text(r.get("reason", "failed"), f"{what}.reason"))))
            else:
                raise answer.BadAnswer(f"{what}.status is neither 'ok' nor 'failed'")
        fp = answer.strings(body.get("fingerprint"), "fingerprint")
        if fp != self._fingerprint:
            raise answer.BadAnswer("the fingerprint differs from the one its info gave (another host answered?)")
        seconds = {
            k: answer.number(v, f"seconds.{k}", 0.0, answer.MAX_SECONDS, lo_open=False)
            for k, v in answer.mapping(body.get("seconds", {}), "seconds", 16).items()
        }
        return BatchAnswer(
            out,
            fp,
            answer.text(body.get("name", ""), "name", 200),
            _unknown_or(body.get("load_avg", -1.0), "load_avg"),
            seconds,
            _unknown_or(body.get("others_cores", -1.0), "others_cores"),
        )

    def _run(self, coro: Any) -> Any:
        try:
            return asyncio.run(asyncio.wait_for(coro, self.timeout_s))
        except AgentError:
            raise
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
            raise AgentUnreachable(f"agent {self.url}: no answer within {self.timeout_s:g} s (timed out)") from None
        except aiohttp.ServerFingerprintMismatch as e:
            raise AgentRefused(
                f"agent {self.url}: its certificate is not the pinned one (sha256 {e.got.hex()[:16]}…, "
                f"pinned {self.pin[:16] if self.pin else ''}…): not the agent you pinned, nothing sent"
            ) from None
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError) as e:
            raise AgentRefused(
                f"agent {self.url}: TLS failed ({wire.one_line(e, 120)}); pin the agent's certificate: "
                "--agent https://HOST:PORT#sha256=FINGERPRINT (the agent prints it when it starts)"
            ) from None
        except aiohttp.ClientConnectorError as e:
            raise AgentUnreachable(
                f"agent {self.url}: cannot connect ({wire.one_line(e.os_error.strerror or e, 120)})"
            ) from None
        except (aiohttp.ClientError, OSError) as e:
            raise AgentUnreachable(f"agent {self.url}: connection lost ({type(e).__name__})") from None

    async def _request(self, method: str, path: str, data: Any = None, body_digest: str = "") -> dict[str, Any]:
        signed = auth.sign_request(self.token, method, path, body_digest)
        headers = {wire.WIRE_HEADER: str(wire.WIRE_VERSION), **signed}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            async with s.request(method, self.url + path, data=data, headers=headers, ssl=self._ssl()) as r:
                raw = await self._read(r)
                return self._accept(r, raw, signed[auth.HDR_NONCE])

    async def _read(self, r: aiohttp.ClientResponse) -> bytes:
        if (r.content_length or 0) > self.max_answer_bytes:
            raise AgentRefused(f"agent {self.url}: answer larger than {self.max_answer_bytes >> 20} MiB, refused")
        raw = bytearray()
        while chunk := await r.content.read(1 << 16):
            raw += chunk
            if len(raw) > self.max_answer_bytes:
                raise AgentRefused(f"agent {self.url}: answer larger than {self.max_answer_bytes >> 20} MiB, refused")
        return bytes(raw)

    def _accept(self, r: aiohttp.ClientResponse, raw: bytes, nonce: str) -> dict[str, Any]:
        """The answer's JSON body once its signature is checked; errors as one-line exceptions."""
        bad_json: answer.BadAnswer | None = None
        try:
            body = answer.loads(raw) if raw else {}
        except answer.BadAnswer as e:
            body, bad_json = {}, e
        msg = wire.one_line(body.get("error", "") if isinstance(body, dict) else "", 200)
        if r.status in (401, 429):  # an agent cannot sign for a client whose token it does not share
            why = f": {msg}" if msg else ""
            raise AgentRefused(f"agent {self.url} refused the authentication ({r.status}){why}; check --token-file")
        expected = auth.answer_signature(self.token, nonce, r.status, raw)
        if not auth.same(r.headers.get(auth.HDR_SIGNATURE, ""), expected):
            raise AgentRefused(
                f"agent {self.url}: its answer ({r.status}) is not signed with the token: not an hwnas "
                "agent sharing this token, or something between altered it; nothing was stored"
            )
        bad = wire.version_mismatch(r.headers.get(wire.WIRE_HEADER), "agent")
        if bad:
            raise AgentRefused(f"agent {self.url}: {bad}")
        if r.status == 503:
            raise AgentBusy(f"agent {self.url}: {msg}")
        if r.status >= 500:
            raise AgentUnreachable(f"agent {self.url}: server error {r.status}: {msg}")
        if r.status >= 400:
            raise AgentRefused(f"agent {self.url} refused the request ({r.status}): {msg}")
        if bad_json is not None or not isinstance(body, dict) or not raw:
            raise AgentRefused(f"agent {self.url}: refused its answer: {bad_json or 'not a JSON object'}")
        return body


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def _unknown_or(value: Any, what: str) -> float:
    """An agent's ``load_avg`` / ``others_cores``: -1 (unknown) -> NaN, else a bounded non-negative figure."""
    if value == -1:
        return math.nan
    return answer.number(value, what, 0.0, 1e5, lo_open=False)
