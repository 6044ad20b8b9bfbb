"""Devices defined in a user's TOML or YAML file: parsing, defaults, validation, discovery, listing."""

import json
import os

import pytest

from hwnas import devices
from hwnas.cli.main import main
from hwnas.core.errors import ConfigError, NotFoundError, UnknownNameError

TOML = """
[devices.cpu-2t-b4]
runtime = "onnxruntime"
threads = 2
batch_size = 4
rounds = 6
warmup_runs = 5

[devices.cpu-b8]
base = "cpu"
batch_size = 8

[devices.my-gpu]
runtime = "tensorrt"
precision = "fp16"
"""

YAML = """
devices:
  cpu-2t-b4:
    runtime: onnxruntime
    threads: 2
    batch_size: 4
    rounds: 6
    warmup_runs: 5
"""


def _write(tmp_path, text, name="devices.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_toml_file_defines_devices_with_runtime_defaults_and_a_base(tmp_path):
    path = _write(tmp_path, TOML)
    given = devices.Devices.load(path)
    d = given.get("cpu-2t-b4")
    assert devices.get("cpu-2t-b4", devices_file=path) == d
    assert (d.runtime, d.threads, d.batch_size, d.rounds, d.warmup_runs) == ("onnxruntime", 2, 4, 6, 5)
    assert d.provider == "CPUExecutionProvider" and d.clock == "wall" and d.precision == "fp32"
    b8 = given.get("cpu-b8")  # the built-in cpu's settings, one changed
    assert b8.batch_size == 8 and b8.clock == "thread" and b8.threads == 1
    gpu = given.get("my-gpu")  # TensorRT's defaults fill what the entry leaves out
    assert gpu.precision == "fp16" and gpu.threads == 0 and gpu.provider == "" and gpu.warmup_runs == 50
    assert given.names()[: len(devices.builtin_names())] == devices.builtin_names()
    assert {"cpu-2t-b4", "cpu-b8", "my-gpu"} <= set(given.names())
    assert given.source("cpu-2t-b4") == str(path) and given.source("cpu") == "built-in"
    assert [x.name for x in given.all()] == given.names()


def test_a_given_file_is_seen_only_where_it_is_passed(tmp_path):
    """No process-wide choice: the default lookup does not see a file another caller loaded."""
    path = _write(tmp_path, TOML)
    assert devices.Devices.load(path).get("cpu-2t-b4").batch_size == 4
    with pytest.raises(UnknownNameError, match="--devices FILE"):
        devices.get("cpu-2t-b4")
    assert devices.user_file() is None and devices.get("cpu").name == "cpu"  # built-ins need no file


def test_a_changed_file_is_read_again(tmp_path):
    path = _write(tmp_path, YAML, "devices.yaml")
    assert devices.get("cpu-2t-b4", devices_file=path).batch_size == 4
    path.write_text(YAML.replace("batch_size: 4", "batch_size: 2"))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))  # a later stamp
    assert devices.get("cpu-2t-b4", devices_file=path).batch_size == 2


def test_yaml_file_gives_the_same_device(tmp_path):
    from_yaml = devices.Devices.load(_write(tmp_path, YAML, "devices.yaml")).get("cpu-2t-b4")
    from_toml = devices.Devices.load(_write(tmp_path, TOML)).get("cpu-2t-b4")
    assert from_yaml.with_(description="") == from_toml.with_(description="")


def test_default_path_from_env_and_config_folder(tmp_path, monkeypatch):
    assert devices.user_file() is None
    with pytest.raises(UnknownNameError, match="--devices FILE"):
        devices.get("cpu-2t-b4")
    folder = tmp_path / "xdg" / "hwnas"
    folder.mkdir(parents=True)
    _write(folder, YAML, "devices.yaml")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert devices.get("cpu-2t-b4").batch_size == 4
    other = _write(tmp_path, TOML.replace("cpu-2t-b4", "cpu-2t-b2").replace("batch_size = 4", "batch_size = 2"))
    monkeypatch.setenv("HWNAS_DEVICES", str(other))  # the variable wins over the config folder
    assert devices.get("cpu-2t-b2").batch_size == 2 and "cpu-2t-b4" not in devices.names()
    monkeypatch.setenv("HWNAS_DEVICES", str(tmp_path / "missing.toml"))
    with pytest.raises(NotFoundError, match="no devices file"):
        devices.names()


@pytest.mark.parametrize(
    "text, match",
    [
        ('[devices.a]\nruntime = "onnxruntime"\nthread = 2\n', "unknown setting 'thread'"),
        ('[devices.a]\nruntime = "onnxruntime"\nthreads = "2"\n', "threads must be an integer"),
        ('[devices.a]\nruntime = "onnxruntime"\nthreads = true\n', "threads must be an integer"),
        ('[devices.a]\nruntime = "openvino"\n', "unknown runtime 'openvino'"),
        ("[devices.a]\nthreads = 2\n", "set runtime"),
        ('[devices.cpu]\nruntime = "onnxruntime"\n', "built-in device has that name"),
        ('[devices.a]\nbase = "tpu"\n', "base 'tpu' is not a built-in device"),
        ('[devices.a]\nbase = "cpu"\nthreads = 2\n', "thread clock needs 1 thread"),
        ('[devices.a]\nruntime = "onnxruntime"\nbatch_size = 0\n', "must be positive"),
        ('[devices."a b"]\nruntime = "onnxruntime"\n', "device name 'a b'"),
        ('[devices.a\nruntime = "onnxruntime"\n', "not valid TOML"),
        ('[gpus.a]\nruntime = "onnxruntime"\n', "one 'devices' table"),
    ],
)
def test_mistakes_are_one_line_config_errors_naming_the_file(tmp_path, text, match):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as e:
        devices.Devices.load(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_file_suffix_must_say_the_format(tmp_path):
    with pytest.raises(ConfigError, match=".toml, .yaml or .yml"):
        devices.Devices.load(_write(tmp_path, TOML, "devices.txt"))


def test_cli_lists_user_devices_and_rejects_a_bad_file_in_one_line(tmp_path, capsys):
    path = _write(tmp_path, TOML)
    assert main(["devices", "--devices", str(path), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["cpu-2t-b4"]["batch"] == 4 and rows["cpu-2t-b4"]["threads"] == 2
    assert rows["cpu-2t-b4"]["source"] == str(path) and rows["cpu"]["source"] == "built-in"
    assert rows["cpu"]["host"]["cpu"] and rows["cpu"]["host"]["runtime"].startswith("onnxruntime ")
    assert main(["devices", "--devices", str(path)]) == 0
    out = capsys.readouterr().out
    assert "cpu-2t-b4" in out and f"user devices: {path}" in out
    bad = _write(tmp_path, '[devices.a]\nruntime = "onnxruntime"\nthread = 2\n', "bad.toml")
    with pytest.raises(SystemExit) as e:
        main(["profile", "--devices", str(bad), "--device", "a", "-n", "1"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "unknown setting 'thread'" in err


def _doc_device_files() -> list[tuple[str, str, str]]:
    """(page, suffix, text) of every devices file shown in the docs' guides."""
    import re
    from pathlib import Path

    out = []
    for page in sorted((Path(__file__).parents[2] / "docs" / "guides").glob("*.md")):
        for lang, body in re.findall(r"```(toml|yaml)\n(.*?)```", page.read_text(), re.S):
            if "[devices." in body or body.lstrip("# \n").startswith("devices:") or "\ndevices:" in body:
                out.append((page.name, lang, body))
    return out


def test_every_devices_file_in_the_guides_is_valid(tmp_path):
    shown = _doc_device_files()
    assert {p for p, _, _ in shown} >= {"devices-file.md", "int8.md"} and len(shown) >= 3
    for i, (page, lang, body) in enumerate(shown):
        path = tmp_path / f"{i}.{lang}"
        path.write_text(body)
        assert devices.Devices.load(path).user(), f"{page}: a devices file that defines nothing"
    first = tmp_path / "0.toml"  # the devices-file guide's first example
    got = {d.name: d for d in devices.Devices.load(first).user().values()}
    assert (got["cpu-2t-b4"].threads, got["cpu-2t-b4"].batch_size) == (2, 4) and got["cpu-b8"].batch_size == 8


def test_without_a_toml_reader_toml_is_one_line_and_yaml_still_works(tmp_path, monkeypatch):
    # Python 3.10 has no tomllib; without the tomli package only YAML files can be read
    monkeypatch.setitem(__import__("sys").modules, "tomllib", None)
    monkeypatch.setitem(__import__("sys").modules, "tomli", None)
    with pytest.raises(ConfigError, match="tomli") as e:
        devices.Devices.load(_write(tmp_path, TOML))
    assert "\n" not in str(e.value)
    assert devices.Devices.load(_write(tmp_path, YAML, "devices.yaml")).get("cpu-2t-b4").batch_size == 4


def test_the_guides_key_table_shows_the_real_defaults():
    # the devices-file guide lists every key with its default: a changed default must change the table
    import dataclasses
    import re
    from pathlib import Path

    from hwnas.devices.device import Device

    page = (Path(__file__).parents[2] / "docs" / "guides" / "devices-file.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+?) \|", page, re.M))
    checked = 0
    for f in dataclasses.fields(Device):
        if f.name in rows and isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
            shown = rows[f.name].split(",")[0].strip()
            assert float(shown) == float(f.default), f"{f.name}: the guide says {shown}, Device says {f.default}"
            checked += 1
    assert checked >= 12
