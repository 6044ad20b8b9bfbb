"""The profiler measures each device's deployed form: INT8 models quantized by ONNX Runtime's tools, torch programs."""

from __future__ import annotations

import math

import pytest

from hwnas.devices import get
from hwnas.pipelines import exporter as exporter_mod
from hwnas.pipelines.profile import profile_configs
from hwnas.profiling.quantize import QuantizationError
from hwnas.profiling.sampling import plan
from hwnas.profiling.store import LatencyStore

QUICK = dict(rounds=3, warmup_runs=3, block_ms=2.0, max_retries=0)


@pytest.mark.parametrize(
    ("device", "precision", "quantized"),
    [("cpu-int8-dynamic", "int8-dynamic", True), ("cpu-int8", "int8-static", True), ("cpu-torch", "fp32", False)],
)
def test_each_form_is_measured_with_the_protocol_and_says_how_it_was_made(
    tiny_space, tmp_path, export_calls, device, precision, quantized
):
    dev = get(device).with_(**QUICK, **({"calibration": 32} if device == "cpu-int8" else {}))
    with LatencyStore(tmp_path / "l.db") as store:
        s = profile_configs(plan(tiny_space, 3), tiny_space, dev, store, batch=3, visits=1, retest=None)
        recs = list(store.records())
    assert len(recs) == 3 and all(r.ok and r.latency_ms > 0 and r.precision == precision for r in recs)
    assert all(len(r.refs_ms) == len(s.records[0].refs_ms) > 0 for r in recs)  # beside the ladder, same form
    if quantized:
        assert all(r.quantize_s > 0 for r in recs) and s.seconds["quantize"] > 0
    else:
        assert all(math.isnan(r.quantize_s) for r in recs) and s.seconds["quantize"] == 0
        assert all(r.runtime == "torch" for r in recs)


def test_a_subnet_that_fails_to_quantize_is_a_failed_record_with_the_reason(tiny_space, tmp_path, monkeypatch):
    real = exporter_mod.Exporter.deploy
    bad = tiny_space.max_config().key()

    def deploy(self, device, cfg, path):  # noqa: ANN001, ANN202
        if cfg.key() == bad:
            raise QuantizationError("int8-dynamic quantization of x.onnx failed: unsupported op")
        return real(self, device, cfg, path)

    monkeypatch.setattr(exporter_mod.Exporter, "deploy", deploy)
    dev = get("cpu-int8-dynamic").with_(**QUICK)
    cfgs = [tiny_space.min_config(), tiny_space.max_config()]
    with LatencyStore(tmp_path / "l.db") as store:
        profile_configs(cfgs, tiny_space, dev, store, batch=2, visits=1, retest=None)
        recs = {r.key: r for r in store.records()}
    assert recs[bad].status == "failed" and "quantization" in recs[bad].reason and "unsupported op" in recs[bad].reason
    assert math.isnan(recs[bad].latency_ms) and recs[tiny_space.min_config().key()].ok
