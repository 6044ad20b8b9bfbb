"""The agent process itself: runs without torch, token, wire version, upload cap, ONNX checks, busy."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import onnx
import pytest
from onnx import TensorProto, helper

from hwnas.agent import auth, wire
from hwnas.agent.client import AgentBusy, AgentClient, AgentRefused


def _raw(
    url: str,
    path: str = "/v1/info",
    token: str | None = None,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict]:
    h = {wire.WIRE_HEADER: str(wire.WIRE_VERSION), **(headers or {})}
    if token:
        h.update(auth.sign_request(token, method, path))
    req = urllib.request.Request(url + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def agent(start_agent):
    return start_agent("--max-upload-mb", "0.5", "--name", "sec-agent")


def test_agent_runs_and_measures_with_torch_blocked(agent, token, quick_device, models):
    assert "127.0.0.1" in agent.banner and "cpu-quick" in agent.banner  # says where it listens
    c = AgentClient(agent.url, token)
    info = c.check(quick_device)
    assert info["wire"] == wire.WIRE_VERSION and info["fingerprint"]["name"] == "sec-agent"
    ans = c.measure(quick_device, models, seed=1)
    assert [r.measurement is not None and r.measurement.latency_ms > 0 for r in ans.results] == [True, True]
    assert ans.fingerprint["runtime"].startswith("onnxruntime ") and ans.fingerprint["cpu"]
    assert all(len(r.measurement.block_ms) == 3 for r in ans.results)  # the device file's rounds


@pytest.mark.parametrize("tok", [None, "", "wrong-token-wrong-token"])
def test_without_the_right_token_401_and_nothing_runs(agent, quick_device, models, tok):
    for method, path in (("GET", "/v1/info"), ("POST", "/v1/measure")):
        status, body = _raw(agent.url, path, tok, method, data=b"" if method == "POST" else None)
        assert status == 401 and "token" in body["error"]
    with pytest.raises(AgentRefused, match="401"):
        AgentClient(agent.url, tok or "x" * 20).measure(quick_device, models)


def test_other_wire_version_refused_naming_both(agent, token, monkeypatch):
    status, body = _raw(agent.url, token=token, headers={wire.WIRE_HEADER: "99"})
    assert status == 409 and f"version {wire.WIRE_VERSION}" in body["error"] and "99" in body["error"]
    agent_speaks = wire.WIRE_VERSION
    monkeypatch.setattr(wire, "WIRE_VERSION", agent_speaks + 1)  # this client is newer than the agent
    with pytest.raises(AgentRefused) as e:
        AgentClient(agent.url, token).info()
    msg = str(e.value)
    assert "\n" not in msg and f"version {agent_speaks + 1}" in msg and f"speaks {agent_speaks}" in msg


def test_device_defined_differently_is_refused(agent, token, quick_device, models):
    with pytest.raises(AgentRefused, match="rounds=3 there, 5 here"):
        AgentClient(agent.url, token).measure(quick_device.with_(rounds=5), models[:1])


def test_upload_over_the_cap_413(agent, token, quick_device, tmp_path):
    big = tmp_path / "big.onnx"
    big.write_bytes(b"\0" * (1 << 20))  # 1 MiB > 0.5 MiB cap
    with pytest.raises(AgentRefused, match=r"\(413\).*larger than the agent's upload cap of 0.5 MiB"):
        AgentClient(agent.url, token).measure(quick_device, [big])


def _custom_domain_model(path):
    node = helper.make_node("Evil", ["x"], ["y"], domain="com.example")
    g = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    onnx.save(m, path)


def _external_data_model(path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("float_data")
    w.external_data.add(key="location", value="../../../etc/passwd")
    node = helper.make_node("Add", ["x", "w"], ["y"])
    g = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        initializer=[w],
    )
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("junk", "not an ONNX model"),
        ("custom", "non-standard operator domain"),
        ("external", "outside the model file"),
        ("pickle", "not an ONNX model"),
    ],
)
def test_non_onnx_or_non_standard_upload_422(agent, token, quick_device, models, tmp_path, kind, reason):
    import pickle

    bad = tmp_path / "bad.onnx"
    if kind == "junk":
        bad.write_bytes(b"this is not a model " * 50)
    elif kind == "pickle":
        bad.write_bytes(pickle.dumps({"a": 1}))
    elif kind == "custom":
        _custom_domain_model(bad)
    else:
        _external_data_model(bad)
    with pytest.raises(AgentRefused, match=rf"\(422\): model 1: .*{reason}") as e:
        AgentClient(agent.url, token).measure(quick_device, [models[0], bad])
    assert "\n" not in str(e.value)


def test_one_batch_at_a_time_second_client_told_busy(agent, token, quick_device, models):
    c = AgentClient(agent.url, token)
    slow = quick_device.with_(rounds=3)
    out: dict = {}
    t = threading.Thread(target=lambda: out.setdefault("a", c.measure(slow, models * 8)))
    t.start()
    try:
        deadline = time.monotonic() + 20
        while not c.info()["busy"] and t.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if t.is_alive():
            with pytest.raises(AgentBusy, match="busy"):
                AgentClient(agent.url, token).measure(quick_device, models[:1])
    finally:
        t.join(60)
    assert len(out["a"].results) == 16
