"""Finding 7: a fake agent that holds the token answers impossible figures; the client refuses the answer
with one line and ``hwnas profile`` stores nothing. Unsigned answers and a changed fingerprint too."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from aiohttp import web

from hwnas.agent import auth, wire
from hwnas.agent.client import AgentClient, AgentRefused
from hwnas.cli.main import main
from hwnas.profiling.store import LatencyStore

from .conftest import DEVICE

FINGERPRINT = {"cpu": "fake cpu", "cores": "4", "runtime": "onnxruntime 1.0", "name": "fake"}


def _measurement(latency) -> dict:
    return {"latency_ms": latency, "median_ms": 1.0, "block_ms": [1.0, 1.0, 1.0], "spread": 0.01, "runs": 30,
            "warmup_runs": 3, "attempts": 1, "figures": {}, "refs": {}}  # fmt: skip


class FakeAgent:
    """An aiohttp server on 127.0.0.1 in a thread that signs whatever ``answer(n_models)`` returns."""

    def __init__(self, token: str, device, answer, signed: bool = True) -> None:
        self.token, self.device, self.answer, self.signed = token, device, answer, signed
        self.fingerprint = dict(FINGERPRINT)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        assert self.ready.wait(10)

    def _reply(self, request: web.Request, body: dict) -> web.Response:
        raw = json.dumps(body).encode()  # NaN and Infinity as Python writes them
        headers = {wire.WIRE_HEADER: str(wire.WIRE_VERSION), "Content-Type": "application/json"}
        if self.signed:
            headers[auth.HDR_SIGNATURE] = auth.answer_signature(
                self.token, request.headers.get(auth.HDR_NONCE, ""), 200, raw
            )
        return web.Response(body=raw, headers=headers)

    async def info(self, request: web.Request) -> web.Response:
        return self._reply(
            request,
            {"wire": wire.WIRE_VERSION, "name": "fake", "device": wire.device_to_wire(self.device),
             "fingerprint": self.fingerprint, "busy": False},
        )  # fmt: skip

    async def measure(self, request: web.Request) -> web.Response:
        reader = await request.multipart()
        manifest = json.loads(await (await reader.next()).read())
        while (part := await reader.next()) is not None:
            await part.read()
        n = len(manifest["models"])
        body = {"wire": wire.WIRE_VERSION, "name": "fake", "fingerprint": self.fingerprint, "load_avg": 0.1,
                "others_cores": 0.0, "seconds": {"measure": 1.0}, "results": self.answer(n)}  # fmt: skip
        return self._reply(request, body)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/v1/info", self.info)
        app.router.add_post("/v1/measure", self.measure)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        self.ready.set()
        self.loop.run_forever()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def _ok(latency):
    return lambda n: [{"status": "ok", "measurement": _measurement(latency), "setup_s": 0.1,
                       "runtime_version": "1.0"}] * n  # fmt: skip


@pytest.mark.parametrize(
    "latency, why",
    [(-5.0, "latency_ms is -5.0"), (float("nan"), "NaN is not a number"),
     (float("inf"), "Infinity is not a number"), (2**70, "latency_ms is 1180591620717411303424")],
)  # fmt: skip
def test_row7_impossible_figures_are_refused_and_nothing_is_stored(files, token, quick_device, tmp_path, capsys,
                                                                   latency, why):  # fmt: skip
    fake = FakeAgent(token, quick_device, _ok(latency))
    try:
        db = tmp_path / "l.db"
        rc = main(
            ["profile", "--devices", files["devices"], "--device", DEVICE, "--space", files["space"], "-n", "2",
             "--db", str(db), "--agent", fake.url, "--token-file", files["token"]]
        )  # fmt: skip
        err = capsys.readouterr().err
        assert rc == 2 and "refused its answer" in err and why in err, err
        assert "Traceback" not in err and len([x for x in err.splitlines() if "refused" in x]) == 1
        if db.exists():
            with LatencyStore(db) as store:
                assert list(store.records(device=DEVICE)) == []
    finally:
        fake.close()


def test_unsigned_answers_and_a_changed_fingerprint_are_refused(token, quick_device, models):
    fake = FakeAgent(token, quick_device, _ok(1.0), signed=False)
    try:
        with pytest.raises(AgentRefused, match="not signed with the token"):
            AgentClient(fake.url, token).info()
    finally:
        fake.close()
    fake = FakeAgent(token, quick_device, _ok(1.0))
    try:
        c = AgentClient(fake.url, token)
        assert c.measure(quick_device, models[:1]).results[0].measurement.latency_ms == 1.0  # an honest answer
        fake.fingerprint = {**FINGERPRINT, "cpu": "another cpu"}
        with pytest.raises(AgentRefused, match="fingerprint differs"):
            c.measure(quick_device, models[:1])
    finally:
        fake.close()


@pytest.mark.parametrize(
    "results, why",
    [(lambda n: [{"status": "ok", "measurement": {**_measurement(1.0), "runs": 10**12}, "setup_s": 0.1}] * n, "runs"),
     (lambda n: [{"status": "failed", "reason": "x" * 5000}] * n, "reason"),
     (lambda n: [{"status": "weird"}] * n, "neither"),
     (lambda n: [], "0 results")],
)  # fmt: skip
def test_out_of_bounds_fields_are_refused(token, quick_device, models, results, why):
    fake = FakeAgent(token, quick_device, results)
    try:
        with pytest.raises(AgentRefused, match=why):
            AgentClient(fake.url, token).measure(quick_device, models[:1])
    finally:
        fake.close()
