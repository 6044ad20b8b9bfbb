"""The documentation's examples work: every ```python block of README.md and docs/**/*.md runs, and every
``hwnas ...`` command line of its ```bash / ```console blocks parses.

Python blocks of one page run in order in one namespace (as in a notebook), in a fresh working folder that
holds a small run folder, ``hwnas-run/`` (see :func:`run_folder`). Tracebacks point at the page's own lines.

A block that cannot run here (say, the ten-minute ``run_pipeline``) opts out visibly with the phrase
``not run in the tests`` in its info string (```python title="not run in the tests: REASON") or in an HTML
comment on the line before it (<!-- not run in the tests: REASON -->). It is still compiled; each opt-out is
reported as a skipped test with its reason, and more than :data:`MAX_OPT_OUTS` fail the suite.

Commands are parsed only, never run, by ``hwnas.cli.main.build_parser()``: lines of bash/sh/shell blocks
(comments dropped, ``\\`` continuations joined, ``&&``/``|``/``;`` chains split) and the ``$ `` lines of
console blocks (the others are output). ``hwnas ARGS`` counts, and so do ``python -m hwnas ARGS`` and
``torchrun ... -m hwnas ARGS``. A file named by ``--devices`` is not read at parse time here.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPT_OUT = "not run in the tests"
MAX_OPT_OUTS = 4  # across all pages
PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "sh", "shell", "zsh"}
CONSOLE = {"console", "shell-session"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
OPERATORS = {"&&", "||", "|", ";", "&", "(", ")", ";;", "|&"}
REDIRECT = re.compile(r"(?<![\w-])\d?(?:>>|>&|&>|>|<)\s*[^\s;|&]+")  # > out, 2>&1, < in: not arguments
PREFIXES = {"time", "nohup", "exec", "env", "sudo"}


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # of the first code line, 1-based
    lang: str
    info: str
    code: str
    opt_out: str | None  # the reason, when the block opts out of running


def pages() -> list[Path]:
    """README.md and every page under docs/ (the hooks' folder holds no pages)."""
    found = [p for p in sorted((ROOT / "docs").rglob("*.md")) if "_hooks" not in p.parts]
    return [ROOT / "README.md", *found]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def _lang(info: str) -> str:
    word = info.strip().lstrip("{").split(maxsplit=1)
    return word[0].lstrip(".").rstrip("}").lower() if word else ""


def _opt_out(info: str, before: str) -> str | None:
    for text in (info, before):
        if OPT_OUT in text:
            reason = text.split(OPT_OUT, 1)[1]
            return OPT_OUT + reason.split('"')[0].split("-->")[0].rstrip()
    return None


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a page (indented ones, in admonitions and lists, too)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m or (m["fence"][0] == "`" and "`" in m["info"]):
            i += 1
            continue
        indent, fence, info = m["indent"], m["fence"], m["info"].strip()
        before = next((s.strip() for s in reversed(lines[:i]) if s.strip()), "")
        before = before if before.startswith("<!--") else ""
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            close = lines[j].strip()
            if close.startswith(fence) and set(close) == {fence[0]}:
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        out.append(Block(_rel(path), i + 2, _lang(info), info, "\n".join(body) + "\n", _opt_out(info, before)))
        i = j + 1
    return out


def python_blocks(path: Path) -> list[Block]:
    return [b for b in blocks(path) if b.lang in PYTHON]


def _compile(block: Block):  # noqa: ANN202
    # blank lines first, so that a traceback names the line of the page itself
    return compile("\n" * (block.line - 1) + block.code, block.page, "exec")


# ---------------------------------------------------------------------------------------------- the run folder


def _label_ms(space, configs):  # noqa: ANN001, ANN202
    """Synthetic latency labels, three times what the mnist-cpu subnets take on ONNX Runtime, 1 thread, on
    the 2-core machine of the documentation's figures (about 0.22 ms + 0.028 ms per million MACs: 0.64 ms
    for the smallest, 4.9 ms for the largest). Pessimistic on purpose: a search under a budget then picks
    a winner that still meets it when re-measured for real on a slower or busy machine."""
    import numpy as np

    from hwnas.core import count_macs

    macs = np.array([count_macs(space, c) for c in configs]) / 1e6
    return 3.0 * (0.22 + 0.028 * macs) * np.exp(np.random.default_rng(1).normal(0.0, 0.01, len(configs)))


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``hwnas-run/`` as the examples expect it, made in a few seconds:

    - ``supernet.pt``: a mnist-cpu supernet with its seeded initial weights (untrained: the examples run
      the real code, their accuracies are at chance);
    - ``predictors/cpu.json``: a ridge latency predictor for the ``cpu`` device, fitted on synthetic labels
      (:func:`_label_ms`) of 60 sampled subnets.

    No latency store: the examples that need one profile a few subnets into it themselves."""
    import numpy as np
    import torch

    from hwnas.core import get_space
    from hwnas.pipelines.workdir import RunDir
    from hwnas.predictors import LatencyPredictor, save_predictor
    from hwnas.supernet import Supernet, save_checkpoint

    space = get_space("mnist-cpu")
    root = tmp_path_factory.mktemp("docs")
    run = RunDir(root / "hwnas-run").ensure()
    torch.manual_seed(0)
    save_checkpoint(Supernet(space), run.supernet)
    configs = space.sample_unique(60, np.random.default_rng(0))
    pred = LatencyPredictor(space, device="cpu", family="ridge").fit(configs, _label_ms(space, configs))
    save_predictor(pred, run.predictor("cpu"))
    return root


@pytest.fixture
def docs_workdir(run_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of :func:`run_folder` as the working folder, with no user settings in the way."""
    work = tmp_path / "work"
    shutil.copytree(run_folder, work)
    monkeypatch.chdir(work)
    monkeypatch.delenv("HWNAS_WORKDIR", raising=False)
    monkeypatch.delenv("HWNAS_DEVICES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no devices file of the user's
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return work


# ------------------------------------------------------------------------------------------------- the tests

RUNNABLE = [p for p in pages() if any(not b.opt_out for b in python_blocks(p))]
OPTED_OUT = [b for p in pages() for b in python_blocks(p) if b.opt_out]


@pytest.mark.slow  # the examples really profile, search and export: 20-40 s for the Python API page
@pytest.mark.parametrize("page", RUNNABLE, ids=_rel)
def test_python_examples_run(page: Path, docs_workdir: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in python_blocks(page):
        if block.opt_out:
            continue
        try:
            exec(_compile(block), namespace)  # noqa: S102 - the documentation's own examples
        except Exception as e:  # noqa: BLE001 - any failure of an example is reported the same way
            tb = e.__traceback__  # from the page's own line on
            while tb is not None and tb.tb_frame.f_code.co_filename != block.page:
                tb = tb.tb_next
            text = "".join(traceback.format_exception(type(e), e, tb or e.__traceback__))
            pytest.fail(f"{block.page}: the python block at line {block.line} failed:\n{text}", pytrace=False)


@pytest.mark.parametrize("block", OPTED_OUT, ids=lambda b: f"{b.page}:{b.line}")
def test_opted_out_example_compiles(block: Block) -> None:
    _compile(block)  # a syntax error fails even here
    pytest.skip(f"{block.page}:{block.line}: {block.opt_out}")


def test_few_examples_opt_out() -> None:
    where = [f"{b.page}:{b.line} ({b.opt_out})" for b in OPTED_OUT]
    assert len(where) <= MAX_OPT_OUTS, f"{len(where)} python blocks opt out of running: " + "; ".join(where)


def test_the_parser_finds_blocks_and_opt_outs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n```python\nx = 1\n```\n\n<!-- not run in the tests: too slow -->\n```python\nslow()\n```\n"
        '!!! note\n    ```py title="not run in the tests: needs a GPU"\n    gpu()\n    ```\n'
        "````markdown\n```python\nnot_a_block()\n```\n````\n"
        "```console\n$ hwnas devices\ncpu  onnxruntime\n```\n"
    )
    found = blocks(page)
    assert [(b.lang, b.line, b.code) for b in found] == [
        ("python", 3, "x = 1\n"),
        ("python", 8, "slow()\n"),
        ("py", 12, "gpu()\n"),
        ("markdown", 15, "```python\nnot_a_block()\n```\n"),
        ("console", 20, "$ hwnas devices\ncpu  onnxruntime\n"),
    ]
    assert [b.opt_out for b in found[:3]] == [
        None,
        "not run in the tests: too slow",
        "not run in the tests: needs a GPU",
    ]
    assert commands(found[4]) == [(20, "hwnas devices", ["devices"])]


# ------------------------------------------------------------------------------------------- command lines


def _logical_lines(block: Block) -> list[tuple[int, str]]:
    """(line, command) of a shell block: console blocks' ``$ `` lines only; continuations joined."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for n, raw in enumerate(block.code.splitlines(), start=block.line):
        line = raw.rstrip()
        if pending is not None:
            text = pending[1] + " " + line.lstrip().removeprefix("> ")
        elif block.lang in CONSOLE:
            if not line.lstrip().startswith("$ "):
                continue
            text = line.lstrip()[2:]
        else:
            text = line
        start = pending[0] if pending is not None else n
        if text.endswith("\\"):
            pending = (start, text[:-1])
            continue
        pending = None
        if text.strip() and not text.lstrip().startswith("#"):
            out.append((start, text.strip()))
    return out


def _hwnas_args(segment: list[str]) -> list[str] | None:
    """The arguments given to hwnas by one simple command, or None when it does not run hwnas."""
    words = list(segment)
    while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in PREFIXES):
        words.pop(0)
    if words and words[0] == "hwnas":
        return words[1:]
    for i in range(len(words) - 1):
        if words[i] == "-m" and words[i + 1] == "hwnas":
            return words[i + 2 :]
    return None


def commands(block: Block) -> list[tuple[int, str, list[str]]]:
    """(line, command line, hwnas arguments) of every hwnas invocation in a shell or console block."""
    out = []
    for n, text in _logical_lines(block):
        lexer = shlex.shlex(REDIRECT.sub(" ", text), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        segment: list[str] = []
        for word in [*lexer, ";"]:
            if word in OPERATORS:
                args = _hwnas_args(segment)
                if args is not None:
                    out.append((n, text, args))
                segment = []
                continue
            segment.append(word)
    return out


SHELL_PAGES = [p for p in pages() if any(b.lang in SHELL | CONSOLE for b in blocks(p))]


@pytest.fixture(scope="module")
def parser():  # noqa: ANN201
    """hwnas's own parser, except that ``--devices FILE`` is taken as a name (the file is not read)."""
    from hwnas.cli import devices_cmd
    from hwnas.cli.main import build_parser

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(devices_cmd, "devices_file", str)
        return build_parser()


@pytest.mark.parametrize("page", SHELL_PAGES, ids=_rel)
def test_command_lines_parse(page: Path, parser) -> None:  # noqa: ANN001
    failures = []
    for block in blocks(page):
        if block.lang not in SHELL | CONSOLE:
            continue
        for line, text, args in commands(block):
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    parser.parse_args(args)
            except SystemExit as e:
                if e.code not in (0, None):  # --help and --version exit 0
                    failures.append(f"{block.page}:{line}: {text}\n    {err.getvalue().strip()}")
    assert not failures, "command lines hwnas does not accept:\n" + "\n".join(failures)


def test_command_extraction() -> None:
    code = (
        "# a comment: hwnas run\n"
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && hwnas run\n"
        "hwnas search --latency-ms 2 --device cpu   # the budget\n"
        "torchrun --nproc_per_node 8 -m hwnas train --space autoformer-tiny \\\n"
        "    --epochs 300\n"
        "OMP_NUM_THREADS=1 hwnas records --json | head -1\n"
        "python -c \"import hwnas; print(hwnas.load_model('w.safetensors'))\"\n"
        "hwnas fit --device cpu > fit.txt 2>&1\n"
    )
    found = commands(Block("p.md", 1, "bash", "bash", code, None))
    assert [(n, args) for n, _, args in found] == [
        (2, ["run"]),
        (3, ["search", "--latency-ms", "2", "--device", "cpu"]),
        (4, ["train", "--space", "autoformer-tiny", "--epochs", "300"]),
        (6, ["records", "--json"]),
        (8, ["fit", "--device", "cpu"]),
    ]
    console = "$ hwnas run\n== 1/4 train\nhwnas: warning: x\n$ python -m hwnas --version\n"
    found = commands(Block("p.md", 10, "console", "console", console, None))
    assert [(n, args) for n, _, args in found] == [(10, ["run"]), (13, ["--version"])]


def test_a_wrong_command_is_caught(parser) -> None:  # noqa: ANN001
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as e:
        parser.parse_args(["search", "--latency-ms", "MS"])
    assert e.value.code == 2
