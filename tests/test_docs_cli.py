"""The documentation's command-line reference is what ``hwnas COMMAND --help`` really prints."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hwnas.cli import reference
from hwnas.cli.main import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


def _hwnas() -> list[str]:
    """The installed console script (next to this Python, else on PATH); ``python -m hwnas`` without one."""
    script = Path(sys.executable).with_name("hwnas")
    if script.is_file():
        return [str(script)]
    found = shutil.which("hwnas")
    return [found] if found else [sys.executable, "-m", "hwnas"]


def _real_help(*command: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PYTHON_COLORS")}
    env.update(COLUMNS=str(reference.COLUMNS), NO_COLOR="1")
    done = subprocess.run([*_hwnas(), *command, "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_reference_is_the_real_help(command):
    assert reference.help_text(command) == _real_help(*([command] if command else []))


def test_reference_has_every_command_once():
    page = reference.markdown()
    assert page.count("## hwnas\n") == 1
    for name in COMMANDS:
        assert page.count(f"## hwnas {name}\n") == 1, name
        assert f"usage: hwnas {name} " in page


def test_help_width_does_not_follow_the_terminal(monkeypatch):
    wide = reference.help_text("search")
    monkeypatch.setenv("COLUMNS", "60")
    assert reference.help_text("search") == wide


def test_unknown_command_is_refused():
    with pytest.raises(KeyError):
        reference.help_text("no-such-command")


def _hook():
    spec = importlib.util.spec_from_file_location("docs_cli_hook", ROOT / "docs" / "_hooks" / "cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _page(src_uri):
    return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))


def test_docs_page_gets_the_generated_reference():
    pytest.importorskip("mkdocs")  # the hook imports it; installed with the docs extra
    hook = _hook()
    text = (ROOT / "docs" / hook.PAGE).read_text()
    assert text.count(hook.MARKER) == 1
    rendered = hook.on_page_markdown(text, _page(hook.PAGE), None, None)
    assert hook.MARKER not in rendered
    assert reference.markdown() in rendered
    assert hook.on_page_markdown("other page", _page("index.md"), None, None) == "other page"
