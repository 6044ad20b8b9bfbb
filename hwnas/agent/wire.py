"""The wire format shared by agent and client: JSON only (nothing is ever unpickled), versioned.

Every request and response carries ``X-Hwnas-Wire: <version>``; a side that sees another version refuses
with one line naming both. Every request is signed with the token and every answer signed back
(:mod:`hwnas.agent.auth`). Endpoints:

* ``GET /v1/info`` -> ``{"wire", "hwnas", "name", "device": {...}, "fingerprint": {...}, "busy",
  "max_upload_bytes", "max_request_bytes", "max_models"}``
* ``POST /v1/measure``, ``multipart/form-data``: first a part ``manifest`` (JSON ``{"wire", "device":
  {...}, "seed", "models": [{"sha256"}, ...], "references": [index, ...]}``, its SHA-256 the request's
  signed digest), then one part ``model`` per ONNX model, streamed to a temp file on the agent. The
  answer is ``{"wire", "name", "fingerprint", "load_avg", "others_cores", "seconds", "results": [...]}``
  (``others_cores``: the cores other processes on the agent kept busy meanwhile, -1 if unknown), one
  result per model in upload order: ``{"status": "ok", "measurement": {...}, "setup_s",
  "runtime_version"}`` or ``{"status": "failed", "reason"}``.

Errors are ``{"error": "<one line>"}`` with a 4xx/5xx status: 400 malformed, 401 authentication, 408 upload
too slow, 409 version or device mismatch, 413 too large, 422 not an acceptable ONNX model, 429 too many
failed authentications, 503 busy (with ``Retry-After``).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, fields
from typing import Any

from hwnas.devices.device import Device
from hwnas.profiling.protocol import Measurement

WIRE_VERSION = 2
WIRE_HEADER = "X-Hwnas-Wire"
DEFAULT_PORT = 7700
MAX_MODELS = 64  # models in one batch
# Fields that do not change a measurement (the rest must match between client and agent)
_NOT_COMPARED = ("description", "session_mib")  # the agent's own memory is its to budget


def version_mismatch(theirs: str | None, who: str) -> str | None:
    """One line naming both versions if ``theirs`` (the other side's header) differs from ours."""
    if theirs == str(WIRE_VERSION):
        return None
    return (
        f"wire format mismatch: this side speaks version {WIRE_VERSION}, the {who} speaks "
        f"{theirs or 'none (not an hwnas agent, or one older than versioning)'}; install the same "
        "hwnas version on both"
    )


def device_to_wire(device: Device) -> dict[str, Any]:
    return asdict(device)


def device_mismatch(agent: dict[str, Any], asked: dict[str, Any]) -> str | None:
    """One line saying how two device definitions (``device_to_wire`` dicts) differ, or None."""
    if asked.get("name") != agent.get("name"):
        return f"the agent measures device {agent.get('name')!r}, the client asked for {asked.get('name')!r}"
    # A field one side does not send (an older hwnas, before the field existed) has its default there.
    compared = [(f.name, None if f.default is MISSING else f.default) for f in fields(Device)]
    diff = [
        f"{name}={agent.get(name, default)!r} there, {asked.get(name, default)!r} here"
        for name, default in compared
        if name not in _NOT_COMPARED and asked.get(name, default) != agent.get(name, default)
    ]
    if diff:
        return (
            f"device {agent.get('name')!r} is defined differently on the agent and the client: "
            f"{'; '.join(diff)} (use the same devices file on both)"
        )
    return None


def measurement_to_wire(m: Measurement) -> dict[str, Any]:
    return asdict(m)


def measurement_from_wire(d: dict[str, Any]) -> Measurement:
    names = {f.name for f in fields(Measurement)}
    m = Measurement(**{k: v for k, v in d.items() if k in names})
    m.block_ms = [float(x) for x in m.block_ms]
    m.figures = {str(k): float(v) for k, v in (m.figures or {}).items()}
    return m


def one_line(text: object, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit] or "unknown error"
