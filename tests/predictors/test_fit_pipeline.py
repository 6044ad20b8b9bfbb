"""The fit pipeline and the `hwnas fit` / `hwnas predict` commands on a real LatencyStore file whose
latencies are SYNTHETIC (see conftest): the pipeline and CLI are what is under test here."""

import json

import numpy as np
import pytest

from hwnas.cli.main import main
from hwnas.core.errors import HwnasError
from hwnas.pipelines.fit import MIN_RECORDS, TooFewRecordsError, fit_records, read_records
from hwnas.pipelines.workdir import RunDir
from hwnas.profiling.record import LatencyRecord
from hwnas.profiling.store import LatencyStore

from .conftest import records_frame

FAMS = "linear-macs,additive,ridge"


def _store(path, space, cfgs, y, failed=0):  # noqa: ANN001, ANN202
    rng = np.random.default_rng(0)
    with LatencyStore(path) as store:
        for i, (c, v) in enumerate(zip(cfgs, y)):
            rec = LatencyRecord(
                key=c.key(),
                device="cpu",
                space=space.name,
                space_digest=space.digest(),
                embed_dim=c.embed_dim,
                depth=c.depth,
                mlp_ratio=list(c.mlp_ratio),
                num_heads=list(c.num_heads),
                latency_ms=float(v),
                block_ms=(v * np.exp(rng.normal(0, 0.02, 8))).tolist(),
            )
            store.add(rec.fail("export failed") if i < failed else rec)


def test_fit_records_reports_everything(space, data, tmp_path):
    cfgs, y = data
    res = fit_records(
        space,
        "cpu",
        records_frame(space, cfgs, y),
        families=FAMS.split(","),
        folds=3,
        out=tmp_path / "cpu.json",
        plot=tmp_path / "cpu.png",
    )
    assert res.path.is_file() and res.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(res.comparison["families"]) == set(FAMS.split(","))
    assert res.noise["n_records"] == 120 and 0 < res.noise["label_noise"] < 0.02
    assert [p["n"] for p in res.curves[res.predictor.family_]] == [10, 20, 50, 96]
    saved = json.loads(res.path.read_text())
    assert saved["noise_floor"] == res.noise and saved["learning_curve"] == res.curves


def test_retest_store_raises_the_floor(space, data):
    from hwnas.pipelines.fit import noise_of
    from hwnas.predictors.report import noise_text

    cfgs, y = data
    df = records_frame(space, cfgs, y)
    again = records_frame(space, cfgs[:40], y[:40] * 1.1, seed=1)  # the same 40 subnets, 10 % slower
    nf = noise_of(df, again)
    assert nf["retest"]["subnets"] == 40
    assert nf["retest"]["median"] == pytest.approx(0.1 / 1.05) == nf["retest"]["p90"]
    assert nf["floor"] == nf["retest"]["label_noise"] > nf["label_noise"]
    assert "40 subnets measured again later disagree by 9.5% median (p90 9.5%" in noise_text(nf)


def test_too_few_records_says_how_to_make_more(space, data):
    cfgs, y = data
    with pytest.raises(TooFewRecordsError, match="hwnas profile --device cpu") as e:
        fit_records(space, "cpu", records_frame(space, cfgs[: MIN_RECORDS - 1], y[: MIN_RECORDS - 1]))
    assert isinstance(e.value, HwnasError)


def test_store_rows_filtered_to_ok_device_and_space(space, data, tmp_path):
    cfgs, y = data
    _store(tmp_path / "latency.db", space, cfgs[:30], y[:30], failed=5)
    df = read_records(tmp_path / "latency.db", "cpu", space)
    assert len(df) == 25 and set(df["status"]) == {"ok"}
    assert len(read_records(tmp_path / "latency.db", "gpu-trt", space)) == 0


def test_cli_fit_then_predict(space, data, tmp_path, capsys):
    cfgs, y = data
    wd = RunDir(tmp_path / "run").ensure()
    _store(wd.store, space, cfgs, y)
    assert main(["fit", "--device", "cpu", "--families", FAMS, "--workdir", str(wd.root)]) == 0
    out = capsys.readouterr().out
    assert "noise floor" in out and "learning curve" in out and "chosen:" in out and "cpu.png" in out
    assert wd.predictor("cpu").is_file() and wd.predictor("cpu").with_suffix(".png").is_file()
    assert main(["predict", "--device", "cpu", "--subnet", "max", "--workdir", str(wd.root), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["latency_ms"] > 0 and got["latency_ms_p95_bound"] >= got["latency_ms"]
    assert (
        main(["predict", "--device", "cpu", "--subnet", "max", "--space", "autoformer-tiny", "--workdir", str(wd.root)])
        == 2
    )
    assert "not for 'autoformer-tiny'" in capsys.readouterr().err


def test_cli_fit_json(space, data, tmp_path, capsys):
    cfgs, y = data
    wd = RunDir(tmp_path / "run").ensure()
    _store(wd.store, space, cfgs, y)
    assert (
        main(["fit", "--device", "cpu", "--families", "additive", "--no-curve", "--json", "--workdir", str(wd.root)])
        == 0
    )
    got = json.loads(capsys.readouterr().out)
    assert got["chosen"] == "additive" and got["metrics"]["p95_rel_err"] > 0
    assert got["noise_floor"]["ref_drift"] is None and got["noise_floor"]["floor"] > 0


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["fit", "--device", "cpu", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "hwnas profile" in err
    assert main(["predict", "--device", "cpu", "--subnet", "min", "--workdir", str(tmp_path)]) == 2
    assert "hwnas fit" in capsys.readouterr().err
