"""TensorRT on a real GPU: runs only where tensorrt imports and a CUDA GPU answers (skipped elsewhere,
with the reason). Not yet run anywhere: no machine of this project has had a GPU."""

import time

import numpy as np
import pytest

from hwnas.devices import get
from hwnas.profiling.backends.cuda import device_count as cuda_device_count
from hwnas.profiling.backends.trt import tensorrt_installed


def _why_not() -> str:
    if not tensorrt_installed():
        return "tensorrt is not installed"
    count, why = cuda_device_count()
    return "" if count else why


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "ok")]


@pytest.fixture
def export(tiny_space, tmp_path):
    """export(cfg, fp16=False, dynamic=False) -> an ONNX file of that subnet of the tiny space."""
    from hwnas.supernet.export import export_onnx
    from hwnas.supernet.resolve import supernet_for

    net = supernet_for(tiny_space, None, 0)

    def go(cfg, fp16=False, dynamic=False, name="m"):
        return export_onnx(net.extract(cfg).eval(), tmp_path / f"{name}.onnx", fp16=fp16, dynamic_batch=dynamic)

    return go


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HWNAS_TRT_CACHE_DIR", str(tmp_path / "trt-cache"))
    return tmp_path / "trt-cache"


def _ort_logits(path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"image": x})[0]


def _image(tiny_space, batch=1, seed=0):
    shape = (batch, tiny_space.in_chans, tiny_space.img_size, tiny_space.img_size)
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("device, tol", [("gpu-trt", 1e-3), ("gpu-trt-fp16", 1e-2)])
def test_trt_logits_match_onnxruntime_cpu(tiny_space, export, cache, device, tol):
    from hwnas.profiling.backends.trt import TrtRunner

    cfg = tiny_space.max_config()
    ref_model = export(cfg, name="ref")  # FP32 model: the reference for both precisions
    x = _image(tiny_space)
    want = _ort_logits(ref_model, x)
    dev = get(device)
    with TrtRunner(export(cfg, fp16=dev.precision == "fp16"), dev) as r:
        got = r.infer({"image": x.astype(r.inputs["image"][1])})["logits"].astype(np.float32)
    np.testing.assert_allclose(got, want, atol=tol, rtol=tol)


def test_dynamic_batch_model_builds_and_runs_at_batch_1_and_8(tiny_space, export, cache):
    from hwnas.profiling.backends.trt import TrtRunner

    path = export(tiny_space.min_config(), dynamic=True)
    for batch in (1, 8):
        dev = get("gpu-trt").with_(batch_size=batch, min_batch=1, max_batch=8)
        with TrtRunner(path, dev) as r:
            assert r.inputs["image"][0][0] == batch and r.outputs["logits"][0][0] == batch
            x = _image(tiny_space, batch)
            np.testing.assert_allclose(r.infer({"image": x})["logits"], _ort_logits(path, x), atol=1e-3, rtol=1e-3)
            assert all(t > 0 for t in r.time_runs(5))


def test_warm_timing_cache_builds_faster_than_cold(tiny_space, export, cache):
    import tensorrt as trt

    from hwnas.profiling.backends.trt import CacheKey, TimingCache, build_engine

    path, dev = export(tiny_space.max_config()), get("gpu-trt")
    tc = TimingCache(CacheKey.here(trt.__version__), cache)
    t0 = time.perf_counter()
    build_engine(path, dev, tc)
    cold = time.perf_counter() - t0
    assert tc.path.stat().st_size > len(tc.key.header())
    warm = []
    for _ in range(2):
        t0 = time.perf_counter()
        build_engine(path, dev, tc)
        warm.append(time.perf_counter() - t0)
    assert max(warm) < cold, (cold, warm)


@pytest.mark.parametrize(
    "device, gpu_timing",
    [("gpu-trt", "graph"), ("gpu-trt", "enqueue"), ("gpu-trt-tf32", "graph"), ("gpu-trt-fp16", "graph")],
)
def test_every_figure_is_positive_and_spread_within_the_device_limit(tiny_space, export, cache, device, gpu_timing):
    from hwnas.profiling.backends.trt import TrtRunner
    from hwnas.profiling.protocol import measure_batch

    dev = get(device).with_(gpu_timing=gpu_timing, rounds=5)
    fp16 = dev.precision == "fp16"
    runners = {
        "min": TrtRunner(export(tiny_space.min_config(), fp16=fp16, name="a"), dev),
        "max": TrtRunner(export(tiny_space.max_config(), fp16=fp16, name="b"), dev),
    }
    try:
        res = measure_batch(runners, dev, np.random.default_rng(0))
    finally:
        for r in runners.values():
            r.close()
    for key, m in res.items():
        assert not isinstance(m, str), m
        assert m.latency_ms > 0 and m.median_ms > 0 and all(b > 0 for b in m.block_ms), key
        assert set(m.figures) == {"compute_ms", "e2e_ms"} and all(v > 0 for v in m.figures.values()), key
        assert m.figures["compute_ms"] == pytest.approx(m.latency_ms)  # gpu-trt: latency_ms is compute time
        assert m.figures["e2e_ms"] >= m.figures["compute_ms"] * 0.9, m.figures  # e2e includes the host's part
        assert m.spread <= dev.max_spread, (key, m.spread, m.block_ms)
    assert runners["min"].setup_s > 0 and runners["min"].runtime_version.split(".")[0] in ("10", "11")


def test_record_carries_both_figures_and_says_which_is_latency(tiny_space, cache):
    from hwnas.pipelines.profile import measure_subnet

    dev = get("gpu-trt").with_(rounds=3)
    rec = measure_subnet(dev, tiny_space, tiny_space.min_config())
    assert rec.ok, rec.reason
    assert rec.runtime == "tensorrt" and rec.precision == "fp32" and rec.clock == "cuda-event"
    assert rec.timing.startswith("latency_ms=compute_ms") and rec.setup_s > 0
    assert rec.compute_ms > 0 and rec.e2e_ms > 0, "the pipeline must copy Measurement.figures (take_figures)"
    assert rec.latency_ms == pytest.approx(rec.compute_ms)
    assert any(cache.iterdir())  # the keyed timing cache was written
