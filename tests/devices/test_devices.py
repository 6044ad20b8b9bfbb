import os
import subprocess
import sys

import pytest

from hwnas import devices
from hwnas.core.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize("name", devices.names())
def test_every_device_answers_available_with_a_reason(name):
    d = devices.get(name)
    ok, why = d.available()
    assert isinstance(ok, bool)
    assert ok or (why and "\n" not in why)  # unusable -> a one-line reason
    assert d.threads <= devices.physical_cores()  # never more threads than cores


def test_cpu_is_usable_here_with_one_thread():
    d = devices.get("cpu")
    assert d.available() == (True, "")
    assert d.runtime == "onnxruntime" and d.threads == 1


def test_unknown_device_lists_known_names():
    with pytest.raises(UnknownNameError) as e:
        devices.get("tpu-v9")
    assert "cpu" in str(e.value) and "gpu-trt" in str(e.value)


def test_physical_cores_within_affinity():
    n = devices.physical_cores()
    assert 1 <= n <= len(os.sched_getaffinity(0))


def test_too_many_threads_is_reported_unusable():
    d = devices.get("cpu").with_(name="cpu-many", threads=devices.physical_cores() + 1, clock="wall")
    ok, why = d.available()
    assert not ok and "cores" in why


def test_bad_settings_raise_config_error():
    with pytest.raises(ConfigError):
        devices.Device("x", "onnxruntime", rounds=0)
    with pytest.raises(ConfigError):
        devices.Device("x", "openvino")


def test_gpu_trt_names_what_is_missing():
    ok, why = devices.get("gpu-trt").available()
    if ok:
        pytest.skip("TensorRT and a CUDA GPU are present here")
    assert "tensorrt" in why.lower() or "gpu" in why.lower()


def test_devices_package_does_not_import_torch():
    code = "import sys, hwnas.devices as d; [x.available() for x in d.all_devices()]; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_thread_clock_needs_one_cpu_thread():
    assert devices.get("cpu").clock == "thread"
    with pytest.raises(ConfigError):
        devices.get("cpu").with_(threads=2)
