"""A device defined by the user in a file: profiled, fitted and searched through the CLI."""

import json
from collections import Counter

import pytest

from hwnas.cli.main import main
from hwnas.core.yaml_io import save_space
from hwnas.devices import physical_cores
from hwnas.profiling.store import LatencyStore
from hwnas.profiling.surprise import MAX_VISITS
from hwnas.profiling.visits import VISITS

pytestmark = [
    pytest.mark.usefixtures("no_user_devices"),
    pytest.mark.skipif(physical_cores() < 2, reason="cpu-2t-b4 needs 2 physical cores"),
]

# quick protocol settings, also from the file
DEVICES = """
[devices.cpu-2t-b4]
runtime = "onnxruntime"
threads = 2
batch_size = 4
rounds = 3
warmup_runs = 3
block_ms = 2.0
max_retries = 0
"""


@pytest.fixture
def files(tiny_space, tmp_path):
    space, dev = tmp_path / "space.yaml", tmp_path / "devices.toml"
    save_space(tiny_space, space)
    dev.write_text(DEVICES)
    return str(space), str(dev)


def test_cpu_2t_b4_from_a_file_profiles_with_its_threads_and_batch(files, tmp_path, capsys):
    space, dev = files
    db = tmp_path / "l.db"
    assert (
        main(
            [
                "profile",
                "--devices",
                dev,
                "--device",
                "cpu-2t-b4",
                "--space",
                space,
                "-n",
                "3",
                "--db",
                str(db),
                "--no-retest",
            ]
        )
        == 0
    )
    assert "measured 3 (3 ok, 0 failed; 0 of them retests" in capsys.readouterr().out
    with LatencyStore(db) as store:
        recs = list(store.records(device="cpu-2t-b4"))
    assert len(recs) == 3 and all(r.ok and r.latency_ms > 0 for r in recs)
    assert {(r.threads, r.batch_size, r.clock, r.runtime, r.provider) for r in recs} == {
        (2, 4, "wall", "onnxruntime", "CPUExecutionProvider")
    }
    assert all(len(r.block_ms) == 3 for r in recs)  # rounds = 3, from the file


def test_user_device_profiles_fits_and_searches_end_to_end(files, tmp_path, capsys):
    space, dev = files
    run = tmp_path / "run"
    common = ["--devices", dev, "--space", space, "--workdir", str(run)]
    assert main(["profile", "--device", "cpu-2t-b4", "-n", "24", *common]) == 0
    with LatencyStore(run / "latency.db") as store:
        recs = [r for r in store.records(device="cpu-2t-b4") if r.ok]
    lat = [r.latency_ms for r in recs]
    # every subnet in three visits, up to five while no visit confirms its label
    visits = Counter(r.key for r in recs)
    assert len(visits) == 24 and all(VISITS <= v <= MAX_VISITS for v in visits.values())

    assert main(["fit", "--device", "cpu-2t-b4", "--families", "ridge", "--no-curve", *common]) == 0
    predictor = json.loads((run / "predictors" / "cpu-2t-b4.json").read_text())
    assert predictor["device"] == "cpu-2t-b4" and predictor["family"] == "ridge"

    budget = 3 * max(lat)  # loose: the search must find a subnet the device really meets
    capsys.readouterr()
    rc = main(
        [
            "search",
            "--device",
            "cpu-2t-b4",
            "--latency-ms",
            f"{budget:.3f}",
            "--objective",
            "params",
            "--margin",
            "0.1",
            "--population",
            "4",
            "--generations",
            "2",
            "--seed",
            "0",
            *common,
        ]
    )
    assert rc == 0, capsys.readouterr().err
    report = json.loads((run / "search" / "report.json").read_text())
    measured = report["winner"]["latency"]["cpu-2t-b4"]
    assert 0 < measured["measured_ms"] <= budget and measured["within_budget"]
    assert (run / "search" / "winner.yaml").is_file()
