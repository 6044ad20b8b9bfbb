"""``hwnas agent``: an aiohttp server that measures uploaded ONNX models with the profiling protocol.

What it defends (see the agent guide in the README): every request is authenticated by an HMAC of the
token over its time, nonce and body (:mod:`hwnas.agent.auth`; no replay) and every answer is signed back;
TLS with a pinned certificate where the network is not this machine (:mod:`hwnas.agent.tls`); bounded
connections, header and body time, request, manifest and model sizes, failed authentication per address
(:mod:`hwnas.agent.conns`); models checked up front (:mod:`hwnas.agent.validate`) and measured in a child
process with memory, CPU-time and wall-clock limits that is killed on expiry (:mod:`hwnas.agent.sandbox`).
Models are streamed to a folder of the agent's own making (``0.onnx``, ``1.onnx``: no name the client
sends becomes a path). One batch measures at a time; the lock is taken only once the upload passed its
checks, so a slow or hostile upload never holds the device.
"""

from __future__ import annotations

import asyncio
import collections
import fcntl
import hashlib
import json
import logging
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from hwnas import __version__
from hwnas.agent import auth, wire
from hwnas.agent.checker import Checker
from hwnas.agent.conns import ConnectionGuard
from hwnas.agent.sandbox import Limits, Sandbox
from hwnas.agent.validate import RejectedModel
from hwnas.devices.device import Device
from hwnas.profiling.backends import fingerprint

CHUNK = 1 << 16
MAX_MANIFEST_BYTES = 256 << 10
WORK_PREFIX = "hwnas-agent-"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
    max_upload_bytes: int = 64 << 20  # one model
    max_request_bytes: int = 256 << 20  # one whole request
    name: str = field(default_factory=socket.gethostname)
    limits: Limits = field(default_factory=Limits)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_connections: int = 128
    header_timeout_s: float = 10.0  # to deliver a request's headers; also the keep-alive timeout
    body_timeout_s: float = 15.0  # longest wait for the next bytes of an upload
    upload_deadline_s: float = 600.0  # a whole upload
    max_uploads: int = 2  # uploads received at once
    auth_failures: int = 30  # failed authentications per address within auth_window_s before 429
    auth_window_s: float = 60.0


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": wire.one_line(message)}, status=status, headers={wire.WIRE_HEADER: str(wire.WIRE_VERSION), **headers}
    )


def _ok(body: dict[str, Any]) -> web.Response:
    return web.json_response({"wire": wire.WIRE_VERSION, **body}, headers={wire.WIRE_HEADER: str(wire.WIRE_VERSION)})


class Agent:
    """The agent's state: its device, token, limits, work folder and the one-batch-at-a-time lock."""

    def __init__(self, cfg: AgentConfig, workdir: Path) -> None:
        self.cfg, self.workdir = cfg, workdir
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hwnas-measure")
        self.checker = Checker(min(cfg.limits.memory_bytes or 2 << 30, 2 << 30))
        self.fingerprint = {**fingerprint(cfg.device), "name": cfg.name}
        self.sandbox = Sandbox(cfg.limits)
        self.nonces = auth.NonceBook()
        self.failures: dict[str, collections.deque[float]] = {}
        self.uploads = 0
        self.guard: ConnectionGuard | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._bounds, self._sign, self._auth])
        app.router.add_get("/v1/info", self.info)
        app.router.add_post("/v1/measure", self.measure)
        return app

    @web.middleware
    async def _bounds(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Marks the connection as inside a request (the idle sweep leaves it alone meanwhile)."""
        if self.guard is not None:
            self.guard.enter(request.transport)
        try:
            return await handler(request)
        finally:
            if self.guard is not None:
                self.guard.leave(request.transport)

    @web.middleware
    async def _sign(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Every answer (errors too) one JSON line, signed over the request's nonce, status and body."""
        try:
            resp = await handler(request)
        except _Refused as e:
            resp = _error(e.status, str(e))
        except web.HTTPException as e:
            resp = _error(e.status, e.reason)
        except Exception as e:  # noqa: BLE001 - an answer and one log line, never a traceback
            _log(f"internal error answering {request.path}: {type(e).__name__}: {wire.one_line(e, 200)}")
            resp = _error(500, f"internal error ({type(e).__name__})")
        if isinstance(resp, web.Response) and isinstance(resp.body, bytes):
            nonce = request.headers.get(auth.HDR_NONCE, "")
            nonce = nonce if nonce.isascii() and len(nonce) <= 128 else ""
            resp.headers[auth.HDR_SIGNATURE] = auth.answer_signature(self.cfg.token, nonce, resp.status, resp.body)
        return resp

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Failed-authentication rate limit, the signature, then the wire version; nothing runs before."""
        peer = request.remote or "?"
        now = time.monotonic()
        recent = self.failures.setdefault(peer, collections.deque())
        while recent and recent[0] < now - self.cfg.auth_window_s:
            recent.popleft()
        if len(recent) >= self.cfg.auth_failures:
            wait = int(recent[0] + self.cfg.auth_window_s - now) + 1
            return _error(
                429, f"too many failed authentications from {peer}; retry in {wait} s", **{"Retry-After": str(wait)}
            )
        bad = auth.check_request(self.cfg.token, request.method, request.path, request.headers, self.nonces)
        if bad:
            recent.append(now)
            if len(self.failures) > 10_000:  # forget addresses with no recent failure
                self.failures = {k: v for k, v in self.failures.items() if v}
            return _error(401, bad)
        if not recent:
            self.failures.pop(peer, None)
        bad = wire.version_mismatch(request.headers.get(wire.WIRE_HEADER), "client")
        if bad:
            return _error(409, bad)
        return await handler(request)

    async def info(self, request: web.Request) -> web.Response:
        return _ok(
            {
                "hwnas": __version__,
                "name": self.cfg.name,
                "device": wire.device_to_wire(self.cfg.device),
                "fingerprint": self.fingerprint,
                "busy": self.lock.locked(),
                "max_upload_bytes": self.cfg.max_upload_bytes,
                "max_request_bytes": self.cfg.max_request_bytes,
                "max_models": wire.MAX_MODELS,
            }
        )

    async def measure(self, request: web.Request) -> web.Response:
        if self.uploads >= self.cfg.max_uploads:
            return _error(503, "agent busy receiving other uploads", **{"Retry-After": "2"})
        self.uploads += 1
        batch = Path(tempfile.mkdtemp(prefix="batch-", dir=self.workdir))
        try:
            try:
                t0 = time.perf_counter()
                seed, refs, paths = await asyncio.wait_for(self._receive(request, batch), self.cfg.upload_deadline_s)
                t1 = time.perf_counter()
            except asyncio.TimeoutError:
                raise _Refused(408, f"the upload took longer than {self.cfg.upload_deadline_s:g} s") from None
            finally:
                self.uploads -= 1
            if not self.lock.acquire(blocking=False):
                return _error(503, "agent busy measuring another batch", **{"Retry-After": "2"})
            try:
                t2 = time.perf_counter()
                loop = asyncio.get_running_loop()
                measured = await loop.run_in_executor(
                    self.pool, lambda: self.sandbox.run(self.cfg.device, paths, seed, refs, progress=_log)
                )
            finally:
                self.lock.release()
            return _ok(
                {
                    "name": self.cfg.name,
                    "fingerprint": self.fingerprint,
                    "results": measured.results,
                    "load_avg": measured.load_avg,
                    "others_cores": measured.others_cores,
                    "seconds": {"upload": t1 - t0, "measure": time.perf_counter() - t2},
                }
            )
        finally:
            shutil.rmtree(batch, ignore_errors=True)

    async def _next(self, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, self.cfg.body_timeout_s)
        except asyncio.TimeoutError:
            raise _Refused(408, f"no upload data for {self.cfg.body_timeout_s:g} s") from None

    async def _receive(self, request: web.Request, tmp: Path) -> tuple[int, list[int], list[Path]]:
        """The manifest (checked against the signed digest), then each model streamed to ``tmp/<i>.onnx``
        under the caps, its SHA-256 compared with the manifest's and the model checked as it arrives."""
        cap = self.cfg.max_request_bytes
        if (request.content_length or 0) > cap:
            raise _Refused(413, f"the request is larger than the agent's cap of {cap / 2**20:g} MiB (--max-request-mb)")
        if not request.content_type.startswith("multipart/"):
            raise _Refused(415, "expected multipart/form-data: a manifest part, then model parts")
        reader = await request.multipart()
        part = await self._next(reader.next())
        if part is None or getattr(part, "name", None) != "manifest":
            raise _Refused(400, "the first part must be the JSON manifest")
        raw = b""
        while chunk := await self._next(part.read_chunk(CHUNK)):
            raw += chunk
            if len(raw) > MAX_MANIFEST_BYTES:
                raise _Refused(413, f"the manifest is larger than {MAX_MANIFEST_BYTES >> 10} KiB")
        if not auth.same(auth.digest(raw), request.headers.get(auth.HDR_DIGEST, "")):
            raise _Refused(400, "the manifest does not match the signed digest")
        seed, refs, models = _manifest(raw, self.cfg.device)
        received, paths = len(raw), list[Path]()
        while (part := await self._next(reader.next())) is not None:
            i = len(paths)
            if getattr(part, "name", None) != "model" or i >= len(models):
                raise _Refused(400, "every part after the manifest is one 'model' part the manifest lists")
            path, sha, size = tmp / f"{i}.onnx", hashlib.sha256(), 0
            with open(path, "wb") as f:
                while chunk := await self._next(part.read_chunk(CHUNK)):
                    size, received = size + len(chunk), received + len(chunk)
                    if size > self.cfg.max_upload_bytes:
                        raise _Refused(
                            413,
                            f"model {i} is larger than the agent's upload cap of "
                            f"{self.cfg.max_upload_bytes / 2**20:g} MiB (--max-upload-mb)",
                        )
                    if received > cap:
                        raise _Refused(413, f"the request is larger than the agent's cap of {cap / 2**20:g} MiB")
                    sha.update(chunk)
                    f.write(chunk)
            if not auth.same(sha.hexdigest(), models[i]):
                raise _Refused(400, f"model {i} does not match the SHA-256 the signed manifest gives")
            try:
                await self.checker.check(path)
            except RejectedModel as e:
                raise _Refused(422, f"model {i}: {e}") from None
            paths.append(path)
        if len(paths) != len(models) or not paths:
            raise _Refused(400, f"the manifest lists {len(models)} models, the request carries {len(paths)}")
        return seed, refs, paths


def _manifest(raw: bytes, device: Device) -> tuple[int, list[int], list[str]]:
    """(seed, reference indices, each model's SHA-256) of a manifest; _Refused (one line) otherwise."""
    try:
        m = json.loads(raw, parse_constant=_no_constant)
        seed, asked, models = m["seed"], dict(m["device"]), [str(x["sha256"]) for x in m["models"]]
        refs = [int(r) for r in m.get("references", [])]
        if not (isinstance(seed, int) and 0 <= seed < 2**32) or not 0 < len(models) <= wire.MAX_MODELS:
            raise ValueError
        if any(not 0 <= r < len(models) for r in refs):
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise _Refused(
            400, f"the manifest is not JSON with 'device', 'seed', 'models' (1 to {wire.MAX_MODELS}) and 'references'"
        ) from None
    bad = wire.device_mismatch(wire.device_to_wire(device), asked)
    if bad:
        raise _Refused(409, bad)
    return seed, refs, models


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


class _OneLine(logging.Handler):
    """Log records as single lines on stderr (no tracebacks), at most ``per_minute`` a minute."""

    def __init__(self, per_minute: int = 30) -> None:
        super().__init__(logging.WARNING)
        self.per_minute, self.window, self.count, self.dropped = per_minute, 0.0, 0, 0

    def emit(self, record: logging.LogRecord) -> None:
        now = time.monotonic()
        if now - self.window > 60:
            if self.dropped:
                _log(f"({self.dropped} similar log lines left out)")
            self.window, self.count, self.dropped = now, 0, 0
        self.count += 1
        if self.count > self.per_minute:
            self.dropped += 1
            return
        exc = record.exc_info[1] if record.exc_info else None
        _log(record.getMessage() + (f": {type(exc).__name__}: {exc}" if exc else ""))


def _log(line: str) -> None:
    sys.stderr.write(f"hwnas agent: {wire.one_line(line, 300)}\n")
    sys.stderr.flush()


def remove_stale(root: Path) -> int:
    """Remove the work folders of agents that are gone (their lock is free); how many."""
    removed = 0
    for d in root.glob(WORK_PREFIX + "*"):
        try:
            st = d.lstat()
            if not d.is_dir() or d.is_symlink() or st.st_uid != os.getuid():
                continue
            fd = os.open(d / ".lock", os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:  # an older agent's folder, without a lock
            fd = -1
        except OSError:
            continue
        try:
            if fd >= 0:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            elif time.time() - st.st_mtime < 3600:
                continue
            shutil.rmtree(d, ignore_errors=True)
            removed += 1
        except BlockingIOError:
            pass
        finally:
            if fd >= 0:
                os.close(fd)
    return removed


def _work_folder() -> tuple[Path, int]:
    """A new work folder and the lock that marks it alive (released when the agent dies)."""
    root = Path(tempfile.gettempdir())
    stale = remove_stale(root)
    if stale:
        _log(f"removed {stale} work folder(s) left by agents that were killed")
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=root))
    fd = os.open(work / ".lock", os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return work, fd


def _more_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def serve(cfg: AgentConfig, ready: Any = print) -> None:
    """Run the agent until SIGTERM or SIGINT; ``ready`` gets the one-line start message."""
    from hwnas.agent import tls

    for name in ("aiohttp", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [_OneLine()], False
    _more_files()
    ctx = tls.server_context(cfg.tls_cert, cfg.tls_key) if cfg.tls_cert and cfg.tls_key else None
    work, lock_fd = _work_folder()
    agent = Agent(cfg, work)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runner = web.AppRunner(
            agent.app(), access_log=None, shutdown_timeout=1.0, keepalive_timeout=cfg.header_timeout_s
        )
        await runner.setup()
        assert runner.server is not None
        agent.guard = ConnectionGuard(runner.server, cfg.max_connections, cfg.header_timeout_s)
        server = await loop.create_server(
            agent.guard, cfg.host, cfg.port, ssl=ctx, ssl_handshake_timeout=5.0 if ctx else None, backlog=128
        )
        sweep = asyncio.ensure_future(agent.guard.sweep())
        port = server.sockets[0].getsockname()[1]
        url = f"{'https' if ctx else 'http'}://{cfg.host}:{port}"
        if ctx and cfg.tls_cert:
            url += f"#sha256={tls.cert_fingerprint(cfg.tls_cert)}"
        exposed = "" if cfg.host in LOOPBACK else " (reachable from other machines)"
        ready(
            f"hwnas agent {cfg.name}: device {cfg.device.name} on {agent.fingerprint['cpu']}, "
            f"{agent.fingerprint['runtime']}; listening on {url}{exposed}, "
            f"wire v{wire.WIRE_VERSION}, uploads up to {cfg.max_upload_bytes / 2**20:g} MiB"
        )
        try:
            await stop.wait()
        finally:
            agent.sandbox.kill()
            sweep.cancel()
            server.close()
            for conn in list(agent.guard.conns):
                conn.abort()
            await runner.cleanup()

    try:
        asyncio.run(main())
    finally:
        agent.sandbox.kill()
        agent.pool.shutdown(wait=False, cancel_futures=True)
        agent.checker.close()
        shutil.rmtree(work, ignore_errors=True)
        os.close(lock_fd)
