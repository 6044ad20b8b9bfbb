"""INT8 and torch devices: their settings, their checks, the devices file, the wire comparison, and the
warning `hwnas devices` gives for INT8 on a CPU without int8 dot-product instructions."""

import json

import pytest

from hwnas import devices
from hwnas.agent.wire import device_mismatch, device_to_wire
from hwnas.cli.main import main
from hwnas.core.errors import ConfigError
from hwnas.devices import host
from hwnas.devices.device import DEFAULT_CALIBRATION, MIN_CALIBRATION, Device


def test_builtin_int8_and_torch_devices():
    static, dynamic = devices.get("cpu-int8"), devices.get("cpu-int8-dynamic")
    assert (static.precision, static.calibration, static.quantized) == ("int8-static", 256, True)
    assert (dynamic.precision, dynamic.calibration, dynamic.quantized) == ("int8-dynamic", 0, True)
    assert not devices.get("cpu").quantized
    for d in (static, dynamic):  # measured as "cpu" measures FP32: only the model differs
        assert (d.runtime, d.threads, d.clock) == ("onnxruntime", 1, "thread")
    cpu_torch, gpu_torch = devices.get("cpu-torch"), devices.get("gpu-torch")
    assert (cpu_torch.runtime, cpu_torch.provider, cpu_torch.clock) == ("torch", "cpu", "thread")
    assert (gpu_torch.runtime, gpu_torch.provider) == ("torch", "cuda")
    assert cpu_torch.available() == (True, "")


def test_static_calibration_defaults_and_bounds():
    assert Device("s", "onnxruntime", precision="int8-static").calibration == DEFAULT_CALIBRATION
    with pytest.raises(ConfigError, match="too few images"):
        Device("s", "onnxruntime", precision="int8-static", calibration=MIN_CALIBRATION - 1)
    with pytest.raises(ConfigError, match="calibration applies to precision"):
        Device("d", "onnxruntime", precision="int8-dynamic", calibration=64)
    # the FP32 twin of a static device drops its calibration size instead of failing
    assert devices.get("cpu-int8").with_(name="x", precision="fp32").calibration == 0


def test_runtimes_refuse_precisions_and_settings_they_do_not_have():
    with pytest.raises(ConfigError, match="precisions"):
        Device("t", "tensorrt", precision="int8-static")
    with pytest.raises(ConfigError, match="precisions"):
        Device("t", "torch", precision="int8-dynamic")
    with pytest.raises(ConfigError, match="CPU provider"):
        Device("g", "onnxruntime", provider="CUDAExecutionProvider", precision="int8-dynamic")
    with pytest.raises(ConfigError, match="compile_mode"):
        Device("c", "onnxruntime", compile_mode="default")
    with pytest.raises(ConfigError, match="compile_mode must be one of"):
        Device("c", "torch", compile_mode="fastest")
    with pytest.raises(ConfigError, match="provider"):
        Device("c", "torch", provider="tpu")
    assert Device("c", "torch", compile_mode="max-autotune").compile_mode == "max-autotune"


def test_devices_file_defines_int8_devices(tmp_path):
    f = tmp_path / "devices.toml"
    f.write_text(
        '[devices.cpu-int8-128]\nbase = "cpu-int8"\ncalibration = 128\n\n'
        '[devices.mt-dyn]\nruntime = "onnxruntime"\nthreads = 1\nprecision = "int8-dynamic"\n\n'
        '[devices.torch-compiled]\nbase = "cpu-torch"\ncompile_mode = "default"\n'
    )
    by_name = devices.Devices.load(f).user()
    assert by_name["cpu-int8-128"].calibration == 128 and by_name["cpu-int8-128"].precision == "int8-static"
    assert by_name["mt-dyn"].quantized and by_name["torch-compiled"].compile_mode == "default"
    f.write_text('[devices.bad]\nbase = "cpu-int8"\ncalibration = 8\n')
    with pytest.raises(ConfigError, match=r"devices.toml.*too few images"):
        devices.Devices.load(f)


def test_wire_compares_the_new_fields_and_defaults_what_an_older_side_omits():
    agent = device_to_wire(devices.get("cpu-int8"))
    asked = device_to_wire(devices.get("cpu-int8").with_(calibration=128))
    assert "calibration=256 there, 128 here" in (device_mismatch(agent, asked) or "")
    older = {k: v for k, v in device_to_wire(devices.get("cpu")).items() if k not in ("calibration", "compile_mode")}
    assert device_mismatch(older, device_to_wire(devices.get("cpu"))) is None


@pytest.mark.parametrize("flags, warned", [(frozenset({"avx2"}), True), (frozenset({"avx2", "avx512_vnni"}), False)])
def test_devices_warns_about_int8_where_the_cpu_has_no_vnni(monkeypatch, capsys, flags, warned):
    monkeypatch.setattr(host, "cpu_flags", lambda: flags)
    assert main(["devices", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("cpu-int8", "cpu-int8-dynamic"):
        assert rows[name]["usable"]  # it works, with a warning
        assert ("INT8 may not be faster" in rows[name]["caveat"]) is warned
    assert rows["cpu"]["caveat"] == ""
    assert main(["devices"]) == 0
    table = capsys.readouterr().out
    assert ("INT8 may not be faster" in table) is warned
