"""The benchmark pages: every script records its figures, has a page and a place in the nav, and the
documentation hook renders what the recorder writes."""

import ast
import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hwnas.devices.host import cpu_model

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
PAGES = ROOT / "docs" / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCHMARKS.glob("*.py") if p.stem != "record")


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def record():
    return _load("benchmarks_record", BENCHMARKS / "record.py")


@pytest.fixture(scope="module")
def hook():
    pytest.importorskip("mkdocs")  # the hook imports it; installed with the docs extra
    return _load("docs_benchmarks_hook", ROOT / "docs" / "_hooks" / "benchmarks.py")


def _page(src_uri):
    return SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))


def _config(docs_dir):
    return {"docs_dir": str(docs_dir), "config_file_path": str(ROOT / "mkdocs.yml")}


def _write_one(record, path):
    notes = record.Notes()
    notes.say("ratio of medians: 1.02 | within the goal")
    table = record.Table("Step time, supernet / static", ["space", "config", "ratio"])
    table.add("mnist-cpu (64)", "smallest e96-d4", "1.050")
    table.add("autoformer-tiny (8)", "largest e240-d14", 0.982)
    return record.save(
        str(BENCHMARKS / "supernet_step.py"), [table], notes, data={"x": 1}, path=path, argv=["--repeats", "3"]
    )


def test_recorder_writes_the_run(record, tmp_path, capsys):
    out = _write_one(record, tmp_path / "supernet_step.json")
    assert "ratio of medians: 1.02" in capsys.readouterr().out  # Notes.say prints as well as keeps
    data = json.loads(out.read_text())
    assert data["script"] == "supernet_step"
    assert data["command"] == "python benchmarks/supernet_step.py --repeats 3"
    assert data["machine"]["cpu"] == cpu_model()
    assert data["machine"]["logical_cpus"] >= 1
    assert set(data["versions"]) >= {"hwnas", "torch", "onnxruntime", "python"}
    assert data["tables"][0]["rows"][1] == ["autoformer-tiny (8)", "largest e240-d14", 0.982]
    assert data["notes"] == ["ratio of medians: 1.02 | within the goal"]
    assert data["data"] == {"x": 1}
    assert data["date"][:4].isdigit() and data["wall_s"] >= 0


def test_recorder_destination_follows_the_environment(record, tmp_path, monkeypatch):
    monkeypatch.setenv(record.ENV, str(tmp_path / "trial"))
    assert record.destination("benchmarks/few_shot.py") == tmp_path / "trial" / "few_shot.json"
    monkeypatch.setenv(record.ENV, str(tmp_path / "one.json"))
    assert record.destination("benchmarks/few_shot.py") == tmp_path / "one.json"
    monkeypatch.delenv(record.ENV)
    assert record.destination("benchmarks/few_shot.py") == PAGES / "data" / "few_shot.json"


def test_recorder_makes_paths_of_this_checkout_relative(record):
    assert record.command("x.py", [f"--db={ROOT}/runs/latency.db"]) == "python benchmarks/x.py --db=runs/latency.db"


def test_table_refuses_a_row_of_the_wrong_width(record):
    with pytest.raises(ValueError):
        record.Table("t", ["a", "b"]).add(1)


def test_hook_renders_a_recorded_run(record, hook, tmp_path):
    docs = tmp_path / "docs"
    _write_one(record, docs / "benchmarks" / "data" / "supernet_step.json")
    text = "# Supernet overhead\n\n## Latest figures\n\n<!-- hwnas-benchmark: supernet_step -->\n"
    page = hook.on_page_markdown(text, _page("benchmarks/supernet_step.md"), _config(docs), None)
    assert "<!--" not in page
    assert "python benchmarks/supernet_step.py --repeats 3" in page
    assert cpu_model() in page
    assert "| space | config | ratio |" in page
    assert "| mnist-cpu (64) | smallest e96-d4 | 1.050 |" in page
    assert "- ratio of medians: 1.02 \\| within the goal" in page
    assert "[supernet_step.json](data/supernet_step.json)" in page


def test_hook_renders_each_variant_of_a_script_under_its_name(record, hook, tmp_path):
    docs = tmp_path / "docs"
    _write_one(record, docs / "benchmarks" / "data" / "supernet_step.json")
    _write_one(record, docs / "benchmarks" / "data" / "supernet_step.autoformer-tiny.json")
    page = hook.on_page_markdown(
        "<!-- hwnas-benchmark: supernet_step -->", _page("benchmarks/supernet_step.md"), _config(docs), None
    )
    assert "### default" in page and "### autoformer-tiny" in page
    assert page.index("### default") < page.index("### autoformer-tiny")
    assert "(data/supernet_step.autoformer-tiny.json)" in page and "(data/supernet_step.json)" in page


def test_hook_says_when_nothing_is_recorded(hook, tmp_path):
    page = hook.on_page_markdown(
        "<!-- hwnas-benchmark: few_shot -->", _page("benchmarks/few_shot.md"), _config(tmp_path), None
    )
    assert "Not recorded yet" in page and "changelog" in page


def test_hook_refuses_a_marker_without_a_script(hook, tmp_path):
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError):
        hook.on_page_markdown(
            "<!-- hwnas-benchmark: no_such_script -->", _page("benchmarks/x.md"), _config(tmp_path), None
        )
    with pytest.raises(PluginError):
        hook.on_page_markdown("no marker", _page("benchmarks/x.md"), _config(tmp_path), None)
    assert hook.on_page_markdown("other", _page("index.md"), None, None) == "other"
    assert hook.on_page_markdown("index", _page("benchmarks/index.md"), None, None) == "index"


def _calls_save(path):
    """Does the script call save(__file__, ...) of the recorder?"""
    tree = ast.parse(path.read_text())
    imported = any(isinstance(n, ast.ImportFrom) and n.module == "record" for n in ast.walk(tree))
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Name)
        and n.func.id == "save"
        and n.args
        and isinstance(n.args[0], ast.Name)
        and n.args[0].id == "__file__"
    ]
    return imported and bool(calls)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_records_and_has_a_page(script):
    assert _calls_save(BENCHMARKS / f"{script}.py"), f"benchmarks/{script}.py does not call save(__file__, ...)"
    page = PAGES / f"{script}.md"
    assert page.is_file(), f"no page docs/benchmarks/{script}.md"
    assert f"({script}.md)" in (PAGES / "index.md").read_text(), f"{script}.md is not in the benchmarks index"


def test_every_script_is_in_the_nav():
    yaml = pytest.importorskip("yaml")

    def pages(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list):
            for item in node:
                yield from pages(item)
        elif isinstance(node, dict):
            for item in node.values():
                yield from pages(item)

    nav = set(pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]))
    assert "benchmarks/index.md" in nav
    assert {f"benchmarks/{s}.md" for s in SCRIPTS} <= nav
    assert {p for p in nav if p.startswith("benchmarks/")} == {f"benchmarks/{s}.md" for s in [*SCRIPTS, "index"]}


def test_every_page_marker_names_its_script():
    import re

    marker = re.compile(r"<!-- hwnas-benchmark: ([A-Za-z0-9_]+) -->")
    for page in PAGES.glob("*.md"):
        found = marker.findall(page.read_text())
        if page.stem == "index":
            assert not found
            continue
        assert found == [page.stem], f"{page.name}: {found}"
        assert (BENCHMARKS / f"{page.stem}.py").is_file()


def test_recorded_data_comes_from_the_recorder():
    """Figures on the pages come from script runs only: every JSON has the recorder's fields."""
    for path in sorted((PAGES / "data").glob("*.json")):
        data = json.loads(path.read_text())
        script = path.stem.split(".")[0]  # SCRIPT.json, or SCRIPT.VARIANT.json (e.g. one per space)
        assert data["script"] == script and script in SCRIPTS, path.name
        assert data["command"].startswith(f"python benchmarks/{script}.py"), path.name
        assert {"format", "date", "machine", "versions", "tables", "notes"} <= set(data), path.name
