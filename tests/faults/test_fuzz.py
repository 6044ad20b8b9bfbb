"""Property-based fuzzing of every input boundary: subnet YAML, space YAML, predictor JSON and the numbers
on the command line. Each input is accepted or refused with an HwnasError (one line in the CLI);
nothing else may escape. ``COUNT`` tallies the inputs generated (at least 2,000 in all)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwnas.core import get_space
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import HwnasError
from hwnas.core.yaml_io import load_subnet, space_from_dict

COUNT: dict[str, int] = {}
FUZZ = settings(
    max_examples=400, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)

scalars = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, 3, 4, 96, 192, 3.7, 2.0, "four", "", True, False, None]),
    st.text(max_size=6),
)
values = st.one_of(scalars, st.lists(scalars, max_size=8), st.dictionaries(st.text(max_size=4), scalars, max_size=3))
RETRAIN_KEYS = ["DEPTH", "EMBED_DIM", "MLP_RATIO", "NUM_HEADS"]


def tally(name: str) -> None:
    COUNT[name] = COUNT.get(name, 0) + 1


def accepted_or_refused(fn, *args):  # noqa: ANN001, ANN201
    try:
        return fn(*args)
    except HwnasError:
        return None


@FUZZ
@given(st.fixed_dictionaries({k: values for k in RETRAIN_KEYS}, optional={"X": values}))
def test_retrain_blocks(block):
    tally("subnet")
    cfg = accepted_or_refused(SubnetConfig.from_retrain, block)
    if cfg is not None:
        assert all(isinstance(h, int) for h in cfg.num_heads) and all(math.isfinite(r) for r in cfg.mlp_ratio)
        assert len(cfg.num_heads) == cfg.depth
        accepted_or_refused(get_space("mnist-cpu").check_fits, cfg)


@settings(FUZZ, max_examples=300)
@given(st.text(max_size=200))
def test_subnet_files_of_any_text(tmp_path_factory, text):
    tally("subnet-text")
    f = tmp_path_factory.getbasetemp() / "fuzz-subnet.yaml"
    f.write_text(text)
    accepted_or_refused(load_subnet, f)


@FUZZ
@given(
    st.fixed_dictionaries(
        {
            "SUPERNET": st.one_of(values, st.fixed_dictionaries({k: values for k in RETRAIN_KEYS})),
            "SEARCH_SPACE": st.one_of(
                st.none(), values, st.fixed_dictionaries({}, optional={k: values for k in RETRAIN_KEYS})
            ),
            "MODEL": st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {}, optional={k: values for k in ("IMG_SIZE", "PATCH_SIZE", "NUM_CLASSES", "QKV_BIAS", "HEAD_DIM")}
                ),
            ),
        }
    )
)
def test_space_blocks(data):
    tally("space")
    space = accepted_or_refused(space_from_dict, data)
    if space is not None:
        assert all(isinstance(v, int) for v in space.num_heads + space.embed_dim + space.depth)
        space.digest()
        accepted_or_refused(space.validate, space.max_config())


@pytest.fixture(scope="module")
def saved_predictor(tmp_path_factory) -> dict:
    from hwnas.predictors import LatencyPredictor, save_predictor
    from tests.faults.conftest import DATA

    lat = json.loads(DATA.read_text())["latency_ms"]
    pred = LatencyPredictor(get_space("mnist-cpu"), device="cpu", family="ridge").fit(
        [SubnetConfig.from_key(k) for k in lat], list(lat.values())
    )
    return json.loads(save_predictor(pred, tmp_path_factory.mktemp("p") / "cpu.json").read_text())


def _paths(d, prefix=()):  # noqa: ANN001, ANN202
    out = [prefix] if prefix else []
    if isinstance(d, dict):
        for k, v in d.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(d, list) and d:
        out += _paths(d[0], prefix + (0,))
    return out


@settings(FUZZ, max_examples=300)
@given(st.data())
def test_predictor_files(saved_predictor, tmp_path_factory, data):
    from hwnas.predictors import load_predictor

    tally("predictor")
    d = json.loads(json.dumps(saved_predictor))
    path = data.draw(st.sampled_from(_paths(d)))
    target = d
    for k in path[:-1]:
        target = target[k]
    if data.draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = data.draw(values)
    f = tmp_path_factory.getbasetemp() / "fuzz-predictor.json"
    f.write_text(json.dumps(d))
    pred = accepted_or_refused(load_predictor, f, get_space("mnist-cpu"), "cpu")
    if pred is not None:
        y = accepted_or_refused(pred.predict, [get_space("mnist-cpu").max_config()])
        assert y is None or (y > 0).all()


NUMBER_OPTIONS = [
    ("search", "--population"),
    ("search", "--seed"),
    ("search", "--latency-ms"),
    ("search", "--params-m"),
    ("search", "--budget"),
    ("search", "--subset"),
    ("profile", "-n"),
    ("profile", "--seed"),
    ("train", "--epochs"),
    ("train", "--lr"),
    ("train", "--drop-path"),
    ("export", "--opset"),
    ("fit", "--seed"),
    ("run", "--seed"),
]


@settings(FUZZ, max_examples=1000)
@given(
    st.sampled_from(NUMBER_OPTIONS),
    st.one_of(
        st.integers(-(2**70), 2**70).map(str),
        st.floats().map(str),
        st.text(max_size=8),
        st.sampled_from(["nan", "inf", "-0", "1e999", "0x10", "1,2", ",", "cpu=", "cpu=-1", "cpu=nan"]),
    ),
)
def test_cli_numbers(option, text):
    from hwnas.cli.main import build_parser

    tally("cli")
    cmd, flag = option
    required = {
        "profile": ["--device", "cpu", "-n", "1"],
        "fit": ["--device", "cpu"],
        "search": [],
        "train": [],
        "export": [],
        "run": [],
    }[cmd]
    argv = [cmd, *[a for a in required if a != flag], f"{flag}={text}"]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        assert e.code == 2
        return
    value = getattr(args, flag.lstrip("-").replace("-", "_"))
    for v in value if isinstance(value, (list, tuple)) else [value]:
        if isinstance(v, tuple):
            v = v[1]
        assert v is None or isinstance(v, (int, str)) or (math.isfinite(v) and (v >= 0 or flag == "--params-m"))


def test_zz_inputs_generated():
    total = sum(COUNT.values())
    print(f"fuzzed inputs: {total} {COUNT}")
    assert total >= 2000, COUNT
