"""``hwnas agent``: an aiohttp server that measures uploaded ONNX models with the profiling protocol.

One batch at a time: a request that finds the agent measuring gets 503 (busy) before its upload is read,
so two measurements never share the device. Models are streamed to a temp folder of the agent's own
making (``0.onnx``, ``1.onnx``: no name the client sends becomes a path), capped in size, checked
(:mod:`hwnas.agent.validate`), measured with :func:`hwnas.profiling.protocol.measure_batch` in a worker
thread and deleted. The token is compared in constant time before anything else happens.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import os
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from aiohttp import web

from hwnas import __version__
from hwnas.agent import wire
from hwnas.agent.validate import RejectedModel, check_model
from hwnas.devices.device import Device
from hwnas.profiling.backends import fingerprint, open_runner
from hwnas.profiling.host_memory import OthersMeter
from hwnas.profiling.protocol import measure_batch

CHUNK = 1 << 16


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class AgentConfig:
    device: Device
    token: str
    host: str = "127.0.0.1"
    port: int = wire.DEFAULT_PORT
    max_upload_bytes: int = 64 << 20
    name: str = field(default_factory=socket.gethostname)


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": wire.one_line(message)}, status=status, headers={wire.WIRE_HEADER: str(wire.WIRE_VERSION), **headers}
    )


def _ok(body: dict[str, Any]) -> web.Response:
    return web.json_response({"wire": wire.WIRE_VERSION, **body}, headers={wire.WIRE_HEADER: str(wire.WIRE_VERSION)})


class Measured(NamedTuple):
    results: list[dict[str, Any]]  # one per path, in order
    load_avg: float  # -1 where the system does not say
    others_cores: float  # cores other processes kept busy while measuring; -1 where unknown


def measure_files(device: Device, paths: list[Path], seed: int) -> Measured:
    """Open every model, measure them together, close them; one result per path, in order."""
    runners: dict[str, Any] = {}
    results: dict[str, dict[str, Any]] = {}
    try:
        for i, p in enumerate(paths):
            try:
                runners[str(i)] = open_runner(device, p, seed=seed)
            except Exception as e:
                results[str(i)] = {
                    "status": "failed",
                    "reason": wire.one_line(f"could not load the model: {type(e).__name__}: {e}"),
                }
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
        with OthersMeter() as others:
            measured = measure_batch(runners, device, np.random.default_rng(seed)) if runners else {}
        for k, res in measured.items():
            if isinstance(res, str):
                results[k] = {"status": "failed", "reason": wire.one_line(res)}
            else:
                results[k] = {
                    "status": "ok",
                    "measurement": wire.measurement_to_wire(res),
                    "setup_s": runners[k].setup_s,
                    "runtime_version": runners[k].runtime_version,
                }
    finally:
        for r in runners.values():
            r.close()
    return Measured(
        [results[str(i)] for i in range(len(paths))],
        load if math.isfinite(load) else -1.0,
        others.cores if math.isfinite(others.cores) else -1.0,
    )


class Agent:
    """The agent's state: its device, token, limits and the one-batch-at-a-time lock."""

    def __init__(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hwnas-measure")
        self.fingerprint = {**fingerprint(cfg.device), "name": cfg.name}

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/v1/info", self.info)
        app.router.add_post("/v1/measure", self.measure)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Token first (constant time), then the wire version; nothing runs before both pass."""
        auth = request.headers.get("Authorization", "")
        given = auth[7:] if auth.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode(), self.cfg.token.encode()):
            return _error(401, "missing or wrong token", **{"WWW-Authenticate": "Bearer"})
        bad = wire.version_mismatch(request.headers.get(wire.WIRE_HEADER), "client")
        if bad:
            return _error(409, bad)
        try:
            return await handler(request)
        except _Refused as e:
            return _error(e.status, str(e))

    async def info(self, request: web.Request) -> web.Response:
        return _ok(
            {
                "hwnas": __version__,
                "name": self.cfg.name,
                "device": wire.device_to_wire(self.cfg.device),
                "fingerprint": self.fingerprint,
                "busy": self.lock.locked(),
                "max_upload_bytes": self.cfg.max_upload_bytes,
                "max_models": wire.MAX_MODELS,
            }
        )

    async def measure(self, request: web.Request) -> web.Response:
        if not self.lock.acquire(blocking=False):
            return _error(503, "agent busy measuring another batch", **{"Retry-After": "2"})
        tmp = Path(tempfile.mkdtemp(prefix="hwnas-agent-"))
        handed_off = False
        try:
            t0 = time.perf_counter()
            seed, paths = await self._receive(request, tmp)
            t1 = time.perf_counter()
            for i, p in enumerate(paths):
                try:
                    check_model(p)
                except RejectedModel as e:
                    raise _Refused(422, f"model {i}: {e}") from None
            t2 = time.perf_counter()

            def job() -> Measured:
                try:
                    return measure_files(self.cfg.device, paths, seed)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                    self.lock.release()

            fut = asyncio.get_running_loop().run_in_executor(self.pool, job)
            handed_off = True
            measured = await fut
            return _ok(
                {
                    "name": self.cfg.name,
                    "fingerprint": self.fingerprint,
                    "results": measured.results,
                    "load_avg": measured.load_avg,
                    "others_cores": measured.others_cores,
                    "seconds": {"upload": t1 - t0, "check": t2 - t1, "measure": time.perf_counter() - t2},
                }
            )
        finally:
            if not handed_off:
                shutil.rmtree(tmp, ignore_errors=True)
                self.lock.release()

    async def _receive(self, request: web.Request, tmp: Path) -> tuple[int, list[Path]]:
        """The manifest (checked) and the models, each streamed to ``tmp/<index>.onnx`` under the cap."""
        if not request.content_type.startswith("multipart/"):
            raise _Refused(415, "expected multipart/form-data: a manifest part, then model parts")
        reader = await request.multipart()
        part = await reader.next()
        if part is None or getattr(part, "name", None) != "manifest":
            raise _Refused(400, "the first part must be the JSON manifest")
        try:
            manifest = json.loads(await part.read(decode=False) or b"{}")  # type: ignore[union-attr]
            seed = int(manifest.get("seed", 0))
            asked = dict(manifest["device"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise _Refused(400, "the manifest is not JSON with 'device' and 'seed'") from None
        bad = wire.device_mismatch(wire.device_to_wire(self.cfg.device), asked)
        if bad:
            raise _Refused(409, bad)
        paths: list[Path] = []
        while (part := await reader.next()) is not None:
            if getattr(part, "name", None) != "model":
                raise _Refused(400, "every part after the manifest must be a 'model' part")
            if len(paths) >= wire.MAX_MODELS:
                raise _Refused(413, f"more than {wire.MAX_MODELS} models in one batch")
            path = tmp / f"{len(paths)}.onnx"
            size = 0
            with open(path, "wb") as f:
                while chunk := await part.read_chunk(CHUNK):  # type: ignore[union-attr]
                    size += len(chunk)
                    if size > self.cfg.max_upload_bytes:
                        raise _Refused(
                            413,
                            f"model {len(paths)} is larger than the agent's upload cap of "
                            f"{self.cfg.max_upload_bytes / 2**20:g} MiB (--max-upload-mb)",
                        )
                    f.write(chunk)
            paths.append(path)
        if not paths:
            raise _Refused(400, "no models in the batch")
        return seed, paths


def serve(cfg: AgentConfig, ready: Any = print) -> None:
    """Run the agent until interrupted; ``ready`` gets the one-line start message."""
    agent = Agent(cfg)
    exposed = "" if cfg.host in ("127.0.0.1", "localhost", "::1") else " (reachable from other machines)"

    async def main() -> None:
        runner = web.AppRunner(agent.app(), access_log=None, handle_signals=True)
        await runner.setup()
        site = web.TCPSite(runner, cfg.host, cfg.port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else cfg.port  # the real one when --port 0
        ready(
            f"hwnas agent {cfg.name}: device {cfg.device.name} on {agent.fingerprint['cpu']}, "
            f"{agent.fingerprint['runtime']}; listening on http://{cfg.host}:{port}{exposed}, "
            f"wire v{wire.WIRE_VERSION}, uploads up to {cfg.max_upload_bytes / 2**20:g} MiB"
        )
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        agent.pool.shutdown(wait=False, cancel_futures=True)
