"""Findings 8-10: publish() keeps the folder's mode and others' files, the store's lock file is never
followed through a link, and token files readable by others or too guessable are refused."""

from __future__ import annotations

import os
import stat

import pytest

from hwnas.cli.agent_cmd import new_token, read_token, token_bits
from hwnas.cli.main import main
from hwnas.core.errors import ConfigError
from hwnas.core.publish import publish, recover
from hwnas.profiling.store_file import profiling_lock


def test_row8_publish_keeps_mode_setgid_and_a_file_written_meanwhile(tmp_path):
    out = tmp_path / "search"
    out.mkdir()
    os.chmod(out, 0o2755)
    (out / "winner.yaml").write_text("old")
    with publish(out, ["winner.yaml"]) as stage:
        (stage / "winner.yaml").write_text("new")
        (out / "theirs.log").write_text("another writer")  # written after staging, before the swap
    assert stat.S_IMODE(out.stat().st_mode) == 0o2755 and out.stat().st_uid == os.getuid()
    assert {p.name: p.read_text() for p in out.iterdir()} == {"winner.yaml": "new", "theirs.log": "another writer"}
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["search"]


def test_row8_a_file_replaced_meanwhile_keeps_the_newer_version(tmp_path):
    out = tmp_path / "search"
    out.mkdir()
    (out / "notes.txt").write_text("v1")
    with publish(out, ["winner.yaml"]) as stage:
        (stage / "winner.yaml").write_text("new")
        tmp = out / "notes.tmp"
        tmp.write_text("v2")
        os.replace(tmp, out / "notes.txt")  # an atomic rewrite by someone else
    assert (out / "notes.txt").read_text() == "v2" and (out / "winner.yaml").read_text() == "new"


def test_recover_restores_the_newest_complete_stage(tmp_path):
    old, ready = tmp_path / "search.old-b", tmp_path / "search.ready-a"
    for d in (old, ready):
        d.mkdir()
        (d / "which").write_text(d.name)
    os.utime(old, ns=(1, 1))
    recover(tmp_path / "search")
    assert (tmp_path / "search" / "which").read_text() == "search.ready-a"
    olds = [tmp_path / "s.old-z", tmp_path / "s.old-a"]
    for i, d in enumerate(olds):
        d.mkdir()
        os.utime(d, ns=(10**9 * (i + 1),) * 2)  # s.old-a is the newer one, though it sorts first
    recover(tmp_path / "s")
    assert not olds[1].exists() and olds[0].exists()


@pytest.mark.parametrize("dangling", [False, True])
def test_row9_a_planted_lock_link_is_refused_and_its_target_untouched(tmp_path, dangling):
    target = tmp_path / "victim.txt"
    if not dangling:
        target.write_text("precious")
    (tmp_path / "l.db.lock").symlink_to(target)
    with pytest.raises(ConfigError, match="symbolic link"), profiling_lock(tmp_path / "l.db"):
        pass
    assert (target.read_text() == "precious") if not dangling else not target.exists()


def test_row9_a_hard_linked_lock_is_refused(tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("precious")
    os.link(target, tmp_path / "l.db.lock")
    with pytest.raises(ConfigError, match="hard link"), profiling_lock(tmp_path / "l.db"):
        pass
    assert target.read_text() == "precious"


def test_row10_weak_or_exposed_tokens_are_refused(tmp_path):
    weak = tmp_path / "weak"
    weak.write_text("a" * 16 + "\n")
    weak.chmod(0o600)
    with pytest.raises(ConfigError, match=r"too guessable.*--new-token"):
        read_token(str(weak))
    good = tmp_path / "good"
    new_token(str(good))
    assert stat.S_IMODE(good.stat().st_mode) == 0o600 and token_bits(read_token(str(good))) >= 80
    good.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others.*chmod 600"):
        read_token(str(good))
    with pytest.raises(ConfigError, match="exists"):
        new_token(str(good))


def test_new_token_command(tmp_path, capsys):
    assert main(["agent", "--new-token", str(tmp_path / "t")]) == 0
    assert "wrote a new token" in capsys.readouterr().out and len(read_token(str(tmp_path / "t"))) >= 40
    assert main(["agent", "--new-token", str(tmp_path / "t")]) == 2
    assert "exists" in capsys.readouterr().err
