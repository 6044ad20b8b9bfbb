"""Publishing a set of outputs: all of the new set or all of the old one."""

from __future__ import annotations

import pytest

from hwnas.core.publish import publish, recover


def test_a_failure_while_staging_keeps_the_whole_old_set(tmp_path):
    out = tmp_path / "search"
    out.mkdir()
    (out / "winner.yaml").write_text("old")
    (out / "winner.onnx").write_text("old")
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OSError), publish(out, ["winner.yaml", "winner.onnx"]) as stage:
        (stage / "winner.yaml").write_text("new")
        raise OSError(28, "No space left on device")
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "winner.yaml": "old",
        "winner.onnx": "old",
        "notes.txt": "mine",
    }
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["search"]


def test_a_new_set_replaces_every_member_and_keeps_other_files(tmp_path):
    out = tmp_path / "search"
    out.mkdir()
    (out / "winner.onnx").write_text("old")
    (out / "notes.txt").write_text("mine")
    with publish(out, ["winner.yaml", "winner.onnx"]) as stage:
        (stage / "winner.yaml").write_text("new")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"winner.yaml": "new", "notes.txt": "mine"}


def test_recover_restores_a_folder_a_crash_left_beside_itself(tmp_path):
    (tmp_path / "search.old-abc").mkdir()
    recover(tmp_path / "search")
    assert (tmp_path / "search").is_dir()
