"""Every case of the fault report: one line on stderr, exit 2 (130/143 when interrupted), nothing lost."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hwnas.cli.main import main
from hwnas.core import SubnetConfig, get_space
from tests.faults.conftest import DATA, fill_store

SUBNET = "RETRAIN: {DEPTH: 1, EMBED_DIM: 96, MLP_RATIO: [2.0], NUM_HEADS: [2]}\n"


def cli(capsys, *args: str) -> tuple[int, list[str]]:
    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:  # argparse refusals: one line, exit 2
        rc = int(e.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, [line for line in err.strip().splitlines() if not line.startswith("hwnas: warning")]


def one_error(capsys, *args: str, match: str = "", rc: int = 2) -> str:
    code, lines = cli(capsys, *args)
    assert code == rc, lines
    assert len(lines) == 1 and "error:" in lines[0] and match in lines[0], lines
    return lines[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 2. other people's files ------------------------------------------------------------------
@pytest.fixture
def foreign_db(tmp_path) -> Path:
    db = tmp_path / "theirs.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE records (key TEXT, note TEXT)")
    con.execute("INSERT INTO records VALUES ('a', 'b')")
    con.commit()
    con.close()
    return db


@pytest.mark.parametrize("cmd", [["profile", "--device", "cpu", "-n", "2"], ["records"], ["fit", "--device", "cpu"]])
def test_foreign_sqlite_file_is_refused_untouched(cmd, foreign_db, capsys):
    before = sha(foreign_db)
    one_error(capsys, *cmd, "--db", foreign_db, match="not an hwnas latency store")
    assert sha(foreign_db) == before and not Path(f"{foreign_db}-wal").exists()


def test_read_only_commands_never_write_a_schema_into_an_empty_file(tmp_path, capsys):
    empty = tmp_path / "empty.db"
    empty.touch()
    one_error(capsys, "records", "--db", empty, match="empty")
    one_error(capsys, "fit", "--device", "cpu", "--db", empty, "--workdir", tmp_path, match="empty")
    assert empty.stat().st_size == 0


def test_concurrent_migrations_of_an_old_store_do_not_collide(tmp_path):
    from hwnas.profiling.store import LatencyStore
    from hwnas.profiling.store_file import APPLICATION_ID

    db = tmp_path / "old.db"
    con = sqlite3.connect(db)  # a store as an older hwnas wrote it: fewer columns, no marks
    con.execute(
        "CREATE TABLE records (key TEXT, device TEXT, space_digest TEXT, latency_ms REAL, status TEXT, "
        "created_at REAL, PRIMARY KEY (key, device, space_digest))"
    )
    con.commit()
    con.close()
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            LatencyStore(db).close()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert "compute_ms" in {r[1] for r in con.execute("PRAGMA table_info(measurements)")}  # migrated once
    assert "host_id" in {r[1] for r in con.execute("PRAGMA table_info(measurements)")}


def test_second_profiler_on_one_store_is_refused(tmp_path, capsys):
    from hwnas.profiling.store import LatencyStore

    db = tmp_path / "latency.db"
    with LatencyStore(db) as store, store.profiling():
        one_error(
            capsys, "profile", "--device", "cpu", "--space", "mnist-cpu", "-n", "2", "--db", db, match="measuring into"
        )
    # a killed holder leaves a stale lock file that never blocks
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from hwnas.profiling.store_file import "
            "profiling_lock; from pathlib import Path\nwith profiling_lock(Path(sys.argv[1])):\n"
            " print('held', flush=True); time.sleep(60)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    with LatencyStore(db) as store, store.profiling():
        pass


# --- 3. tracebacks ----------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path) -> Path:
    (tmp_path / "empty.pt").touch()
    (tmp_path / "four.yaml").write_text(SUBNET.replace("[2.0]", "[four]"))
    (tmp_path / "depth.yaml").write_text(SUBNET.replace("DEPTH: 1", "DEPTH: four"))
    (tmp_path / "heads.yaml").write_text(SUBNET.replace("[2]", "[3.7]"))
    (tmp_path / "a-file").write_text("x")
    return tmp_path


@pytest.mark.parametrize(
    "cmd",
    [
        ["export", "--space", "mnist-cpu", "--subnet", "min", "--out", "x.onnx"],
        ["eval", "--space", "mnist-cpu", "--subnet", "min"],
        ["search", "--objective", "params", "--device", "cpu", "--no-measure"],
    ],
)
def test_empty_checkpoint(cmd, files, capsys):
    one_error(capsys, *cmd, "--checkpoint", files / "empty.pt", match="is empty, not a checkpoint")


@pytest.mark.parametrize(
    "yaml_file, key",
    [("four.yaml", "RETRAIN.MLP_RATIO[0]"), ("depth.yaml", "RETRAIN.DEPTH"), ("heads.yaml", "RETRAIN.NUM_HEADS[0]")],
)
@pytest.mark.parametrize(
    "cmd", [["inspect"], ["predict", "--device", "cpu", "--workdir", "."], ["eval", "--checkpoint", "CKPT"]]
)
def test_wrong_types_in_a_subnet_file_name_the_file_and_key(cmd, yaml_file, key, files, old_run, capsys):
    cmd = [str(old_run.supernet) if a == "CKPT" else a for a in cmd]
    line = one_error(capsys, *cmd, "--space", "mnist-cpu", "--subnet", files / yaml_file)
    assert str(files / yaml_file) in line and key in line


@pytest.mark.parametrize(
    "cmd",
    [
        ["search", "--objective", "params", "--device", "cpu"],
        ["profile", "--device", "cpu", "-n", "2"],
        ["fit", "--device", "cpu"],
        ["train"],
        ["run"],
    ],
)
def test_negative_seed(cmd, tmp_path, capsys):
    one_error(capsys, *cmd, "--seed", "-1", "--workdir", tmp_path, match="--seed")
    assert not (tmp_path / "latency.db").exists()


@pytest.fixture(scope="module")
def predictor_file(tmp_path_factory) -> Path:
    from hwnas.predictors import LatencyPredictor, save_predictor

    lat = json.loads(DATA.read_text())["latency_ms"]
    pred = LatencyPredictor(get_space("mnist-cpu"), device="cpu", family="ridge").fit(
        [SubnetConfig.from_key(k) for k in lat], list(lat.values())
    )
    return save_predictor(pred, tmp_path_factory.mktemp("pred") / "cpu.json")


def _edited(predictor_file: Path, tmp_path: Path, edit) -> Path:
    d = json.loads(predictor_file.read_text())
    edit(d)
    out = tmp_path / "predictors" / "cpu.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(d))
    return out


def _scale(d: dict, factor: float) -> None:
    state = d["model"]["state"]
    for k, v in state.items():
        if isinstance(v, list) and v and isinstance(v[0], float):
            state[k] = [x * factor for x in v]
        elif isinstance(v, float):
            state[k] = v * factor


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.pop("space_digest"), "space_digest"),
        (
            lambda d: d["model"]["state"].update(
                {k: v[:-1] for k, v in d["model"]["state"].items() if isinstance(v, list) and len(v) > 1}
            ),
            "malformed model state",
        ),
        (lambda d: d.update(n_train="many"), "n_train"),
        (lambda d: _scale(d, -1.0), "not a finite positive latency"),
    ],
)
def test_bad_predictor_files(edit, match, predictor_file, tmp_path, capsys):
    path = _edited(predictor_file, tmp_path, edit)
    one_error(
        capsys,
        "predict",
        "--device",
        "cpu",
        "--space",
        "mnist-cpu",
        "--subnet",
        "min",
        "--predictor",
        path,
        match=match,
    )
    one_error(
        capsys,
        "search",
        "--objective",
        "params",
        "--space",
        "mnist-cpu",
        "--budget",
        "cpu=5",
        "--margin",
        "0.2",
        "--no-measure",
        "--workdir",
        tmp_path,
        match=match,
    )


def test_negative_or_nan_prediction_is_refused(predictor_file, monkeypatch, capsys):
    from hwnas.predictors.families.linear import Ridge

    for value in (-999.0, float("nan")):
        monkeypatch.setattr(Ridge, "_predict", lambda self, X, v=value: np.full(len(X), v))
        with pytest.raises(Exception, match="not a finite positive latency"):
            from hwnas.predictors import load_predictor

            load_predictor(predictor_file, get_space("mnist-cpu"), "cpu")


def test_records_out_into_missing_folder_or_onto_a_folder(tmp_path, capsys):
    db = tmp_path / "latency.db"
    fill_store(db)
    one_error(capsys, "records", "--db", db, "--out", tmp_path / "no" / "x.csv", match="no such folder")
    one_error(capsys, "records", "--db", db, "--out", tmp_path, match="is a folder")
    assert main(["records", "--db", str(db), "--out", str(tmp_path / "x.csv")]) == 0


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--out", "."], "is a folder"),
        (["--out", "a-file/x.onnx"], "a-file"),
        (["--out", "x.onnx", "--opset", "5"], "opset 5"),
    ],
)
def test_export_bad_out_and_opset(extra, match, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    one_error(capsys, "export", "--space", "mnist-cpu", "--subnet", "min", *extra, match=match)


@pytest.mark.parametrize(
    "cmd",
    [
        ["train"],
        ["search", "--objective", "params", "--device", "cpu"],
        ["fit", "--device", "cpu"],
        ["profile", "--device", "cpu", "-n", "1"],
    ],
)
def test_workdir_pointing_at_a_file(cmd, files, capsys):
    one_error(capsys, *cmd, "--workdir", files / "a-file")
    assert (files / "a-file").read_text() == "x"


# --- 4. silent or misleading ------------------------------------------------------------------
def test_refused_checkpoint_gives_no_advice_to_disable_the_check(tmp_path, capsys):
    import torch

    class Evil:
        def __reduce__(self):
            return (os.getpid, ())

    torch.save({"model": Evil()}, tmp_path / "evil.pt")
    line = one_error(
        capsys,
        "export",
        "--space",
        "mnist-cpu",
        "--subnet",
        "min",
        "--checkpoint",
        tmp_path / "evil.pt",
        "--out",
        tmp_path / "x.onnx",
        match="refused",
    )
    assert "weights_only" not in line


def test_equal_fitness_history_and_report_name_the_same_best():
    from hwnas.search import Constraints, EvolutionSettings, run_search

    space = get_space("mnist-cpu")
    res = run_search(
        space,
        lambda cfg: 1.0,
        Constraints(space, []),
        seed=3,
        settings=EvolutionSettings(population=8, generations=3, parents=2, mutations=4, crossovers=4),
    )
    assert res.history[-1].best_key == res.ranked()[0].key


def test_subset_is_recorded_as_the_images_used(old_run, tmp_path, capsys):
    import shutil

    wd = tmp_path / "run"
    shutil.copytree(old_run.root, wd)
    rc = main(
        [
            "search",
            "--budget",
            "cpu=5",
            "--margin",
            "0.2",
            "--no-measure",
            "--no-onnx",
            "--subset",
            "999999",
            "--population",
            "4",
            "--generations",
            "1",
            "--workdir",
            str(wd),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    report = json.loads((wd / "search" / "report.json").read_text())
    assert 0 < report["subset"] < 999999


def test_sigterm_removes_the_temporary_onnx_folder(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hwnas",
            "profile",
            "--device",
            "cpu",
            "--space",
            "mnist-cpu",
            "-n",
            "200",
            "--db",
            str(tmp_path / "latency.db"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not any(tmp.glob("hwnas-profile-*")) and time.time() < deadline and p.poll() is None:
        time.sleep(0.1)
    assert any(tmp.glob("hwnas-profile-*")), "profiling never started"
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert "Traceback" not in err
    assert p.returncode in (130, 143), err  # SIGTERM is handled as an interruption
    assert not any(tmp.glob("hwnas-*")), list(tmp.iterdir())
