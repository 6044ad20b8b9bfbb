"""TensorRT runtime: runs only where tensorrt imports and a CUDA GPU answers."""

import importlib.util

import pytest

from hwnas.devices import get
from hwnas.profiling.backends.cuda import device_count as cuda_device_count


def _why_not() -> str:
    if importlib.util.find_spec("tensorrt") is None:
        return "tensorrt is not installed"
    count, why = cuda_device_count()
    return "" if count else why


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "ok")]


@pytest.mark.parametrize("device", ["gpu-trt", "gpu-trt-fp16"])
def test_trt_measures_min_and_max(tiny_space, device):
    from hwnas.pipelines.profile import measure_subnet

    dev = get(device).with_(rounds=3)
    small = measure_subnet(dev, tiny_space, tiny_space.min_config())
    big = measure_subnet(dev, tiny_space, tiny_space.max_config())
    assert small.ok and big.ok, (small.reason, big.reason)
    assert 0 < small.latency_ms and 0 < big.latency_ms
    assert small.runtime == "tensorrt" and small.runtime_version.split(".")[0] in ("10", "11")
    assert small.precision == dev.precision and small.setup_s > 0


def test_timing_cache_is_written(tiny_space, tmp_path, monkeypatch):
    monkeypatch.setenv("HWNAS_TRT_TIMING_CACHE", str(tmp_path / "t.cache"))
    from hwnas.pipelines.profile import measure_subnet

    assert measure_subnet(get("gpu-trt").with_(rounds=2), tiny_space, tiny_space.min_config()).ok
    assert (tmp_path / "t.cache").stat().st_size > 0
