"""A search for deployed forms: finalists scored as INT8 (real quantization, real ONNX Runtime), the winner
shipped and verified in the form it won in, its FP32 twin beside it. Latency predictors and re-measurement
stand in (scripted), as in test_pipeline_search.py: the protocol is tested in tests/profiling."""

from __future__ import annotations

import json
from types import SimpleNamespace

import onnx

from hwnas.cli.main import main
from hwnas.core import SubnetConfig, get_space
from hwnas.predictors import LatencyPredictor, save_predictor

from .conftest import DATA

TINY = ["--population", "4", "--generations", "2", "--subset", "40", "--seed", "0", "--precision", "fp32"]


def test_precisions_ship_each_finalist_in_its_best_form_and_verify_that_form(run_dir, capsys, monkeypatch):
    import hwnas.pipelines.profile as profile

    space = get_space("mnist-cpu")
    rec = json.loads(DATA.read_text())
    cfgs = [SubnetConfig.from_key(k) for k in rec["latency_ms"]]
    fast = LatencyPredictor(space, device="cpu-int8-dynamic", family="ridge")  # INT8 predicted at half the time
    save_predictor(fast.fit(cfgs, [0.5 * v for v in rec["latency_ms"].values()]), run_dir.predictor("cpu-int8-dynamic"))
    measured: list[str] = []

    def measure(device, space, cfg, visits, checkpoint=None, seed=0, with_ladder=True, measurers=None):
        measured.append(device.name)
        return [SimpleNamespace(status="ok", latency_ms=1.0, spread=0.01, refs_ms=[], base_ms=[])] * visits

    monkeypatch.setattr(profile, "measure_visits", measure)
    args = ["search", "--latency-ms", "3", "--device", "cpu", "--precisions", "fp32,int8-dynamic", "--margin", "0.1"]
    rc = main(args + ["--workdir", str(run_dir.root), *TINY])
    out = capsys.readouterr()
    assert rc == 0, out.err
    report = json.loads((run_dir.search / "report.json").read_text())
    dep = report["deployed"]
    assert dep["finalists"] and dep["images"] == 40  # --subset: the fitness's sample of images
    for f in dep["finalists"]:
        forms = {x["device"]: x for x in f["forms"]}
        assert set(forms) == {"cpu", "cpu-int8-dynamic"}
        assert f["chosen"] in {d for d, x in forms.items() if x["within_budget"]}
        assert forms["cpu"]["top1"] is None or forms["cpu"]["top1"] == f["fp32_top1"]  # FP32 forms: FP32 numbers
    w = report["winner"]
    forms = next({x["device"]: x for x in f["forms"]} for f in dep["finalists"] if f["key"] == w["key"])
    shipped = next(f["chosen"] for f in dep["finalists"] if f["key"] == w["key"])
    int8, fp32 = forms["cpu-int8-dynamic"], forms["cpu"]
    if int8["within_budget"] and int8["top1"] >= (fp32["top1"] if fp32["within_budget"] else -1.0):
        assert shipped == "cpu-int8-dynamic"  # as accurate, and faster: the INT8 form
    assert set(measured) == {shipped} and list(w["latency"]) == [shipped]  # verified in the form it ships in
    assert dep["winner"]["device"] == shipped and 0 <= dep["winner"]["deployed_test_top1"] <= 100
    ops = {n.op_type for n in onnx.load(run_dir.search / "winner.onnx").graph.node}
    if shipped == "cpu-int8-dynamic":
        assert ops & {"DynamicQuantizeLinear", "MatMulInteger"} and (run_dir.search / "winner.fp32.onnx").is_file()
    else:
        assert not ops & {"DynamicQuantizeLinear", "MatMulInteger"}
    assert "as deployed" in (run_dir.search / "report.md").read_text() and "deployed:" in out.out
