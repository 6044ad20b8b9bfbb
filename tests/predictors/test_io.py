"""Saving and loading predictors: JSON only, metadata, refusal of another space or device, no torch."""

import json
import subprocess
import sys

import numpy as np
import pytest

from hwnas.core import presets
from hwnas.core.errors import ConfigError, NotFoundError
from hwnas.predictors import LatencyPredictor, load_predictor, save_predictor

FAST = ["linear-macs", "ridge", "additive", "xgboost"]


@pytest.fixture(scope="module")
def saved(space, data, tmp_path_factory):
    cfgs, y = data
    pred = LatencyPredictor(space, device="cpu", families=FAST, folds=3).fit(cfgs, y)
    return pred, save_predictor(pred, tmp_path_factory.mktemp("pred") / "cpu.json")


def test_file_is_json_with_metadata(saved, space):
    pred, path = saved

    def no_nan(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    d = json.loads(path.read_text(), parse_constant=no_nan)  # strict JSON
    assert d["device"] == "cpu" and d["space"] == "mnist-cpu" and d["space_digest"] == space.digest()
    assert d["feature_schema"]["columns"][0] == "embed_dim" and d["n_train"] == 120
    assert {"hwnas", "numpy", "scikit-learn", "xgboost"} <= set(d["versions"])
    assert d["family"] == pred.family_ in FAST
    assert set(d["comparison"]["families"]) == set(FAST)
    assert d["metrics"]["p95_rel_err"] == pred.metrics_["p95_rel_err"] > 0


def test_load_predicts_identically(saved, space, data):
    pred, path = saved
    cfgs, _ = data
    again = load_predictor(path, space=space, device="cpu")
    np.testing.assert_allclose(again.predict(cfgs), pred.predict(cfgs), rtol=1e-12)
    assert again.predict_one(cfgs[0]) == pytest.approx(pred.predict(cfgs[:1])[0])
    assert again.metrics_["p95_rel_err"] == pred.metrics_["p95_rel_err"]


def test_refuses_another_space_or_device(saved):
    _, path = saved
    with pytest.raises(ConfigError, match="not for 'autoformer-tiny'"):
        load_predictor(path, space=presets.get("autoformer-tiny"))
    with pytest.raises(ConfigError, match="not on 'gpu-trt'"):
        load_predictor(path, space=presets.get("mnist-cpu"), device="gpu-trt")


def test_refuses_missing_and_foreign_files(tmp_path, space):
    with pytest.raises(NotFoundError, match="hwnas fit"):
        load_predictor(tmp_path / "none.json", space=space)
    (tmp_path / "x.json").write_text('{"format": "something-else"}')
    with pytest.raises(ConfigError, match="not an hwnas latency predictor"):
        load_predictor(tmp_path / "x.json", space=space)
    (tmp_path / "y.json").write_bytes(b"\x80\x04pickle")
    with pytest.raises(ConfigError, match="not a predictor file"):
        load_predictor(tmp_path / "y.json", space=space)


def test_unfitted_cannot_be_saved(tmp_path, space):
    with pytest.raises(ConfigError, match="not fitted"):
        save_predictor(LatencyPredictor(space), tmp_path / "p.json")


def test_predicts_from_a_saved_file_without_torch(saved):
    _, path = saved
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any torch import would now fail
        "from hwnas.core import presets\n"
        "from hwnas.predictors import load_predictor\n"
        f"p = load_predictor({str(path)!r}, space=presets.get('mnist-cpu'), device='cpu')\n"
        "print(p.predict_one(presets.get('mnist-cpu').max_config()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 0
