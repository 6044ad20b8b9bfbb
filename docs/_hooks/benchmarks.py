"""mkdocs hook: benchmark pages rendered from the JSON each script writes.

Every page ``benchmarks/<script>.md`` (but the index) holds the line ``<!-- hwnas-benchmark: <script> -->``
once. The hook replaces it with the newest record of ``benchmarks/<script>.py``,
``docs/benchmarks/data/<script>.json`` (written by ``benchmarks/record.py`` when the script ends): the
command, the date, the machine and versions, the result tables and the notes. Where the script has not
recorded a run yet, a note says so. A marker naming no script in ``benchmarks/`` fails the build.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

SECTION = "benchmarks/"
INDEX = "benchmarks/index.md"
MARKER = re.compile(r"<!-- hwnas-benchmark: ([A-Za-z0-9_]+) -->")
DATA = Path("benchmarks") / "data"  # under docs/
CHANGELOG_FIGURES = "../changelog.md#figures-measured-during-development"


def _root(config: Any) -> Path:
    """The repository root: the folder of mkdocs.yml."""
    if config is not None and config.get("config_file_path"):
        return Path(config["config_file_path"]).resolve().parent
    return Path(__file__).resolve().parents[2]


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return " ".join(str(value).split()).replace("|", "\\|")


def _table(table: dict[str, Any]) -> str:
    columns = table["columns"]
    lines = [f"**{table['title']}**", ""] if table.get("title") else []
    lines.append("| " + " | ".join(_cell(c) for c in columns) + " |")
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table["rows"]]
    lines += [""] + [f"- {_cell(n)}" for note in table.get("notes", []) for n in str(note).splitlines() if n.strip()]
    return "\n".join(lines).rstrip()


def _machine(m: dict[str, Any]) -> str:
    cores = f"{m.get('logical_cpus')} logical CPUs"
    if m.get("physical_cores"):
        cores += f", {m['physical_cores']} physical cores"
    if m.get("usable_cpus") and m.get("usable_cpus") != m.get("logical_cpus"):
        cores += f", {m['usable_cpus']} usable"
    parts = [f"{m.get('cpu')} ({m.get('arch')}), {cores}"]
    flags = m.get("flags") or []
    parts.append("flags " + ", ".join(f"`{f}`" for f in flags) if flags else "none of the flags looked for")
    if m.get("gpu"):
        parts.append(f"GPU {m['gpu']}")
    if m.get("load_before") is not None and m.get("load_after") is not None:
        parts.append(f"load average {m['load_before']:.2f} at the start, {m['load_after']:.2f} at the end")
    return "; ".join(parts)


def _versions(v: dict[str, Any]) -> str:
    names = [k for k in v if k not in ("python", "commit")]
    out = [f"{k} {v[k]}" for k in names if v.get(k)]
    if v.get("commit"):
        out[0:1] = [f"{out[0]} ({v['commit']})"] if out else [f"commit {v['commit']}"]
    return ", ".join(out + [f"Python {v.get('python')}"])


def render(record: dict[str, Any], raw_link: str | None = None) -> str:
    """Markdown of one record: when, how, where, then its tables and notes."""
    date = str(record.get("date", ""))[:10]
    took = f", in {record['wall_s']:.0f} s" if isinstance(record.get("wall_s"), (int, float)) else ""
    lines = [
        f"Recorded on {date} (UTC){took}, with:",
        "",
        "```bash",
        record["command"],
        "```",
        "",
        f"**Machine:** {_machine(record.get('machine', {}))}.  ",
        f"**Versions:** {_versions(record.get('versions', {}))}.",
    ]
    for table in record.get("tables", []):
        lines += ["", _table(table)]
    notes = [n.strip() for note in record.get("notes", []) for n in str(note).splitlines() if n.strip()]
    if notes:
        lines += ["", "What the run printed besides:", ""] + [f"- {_cell(n)}" for n in notes]
    if raw_link:
        lines += ["", f"All figures of this run as JSON: [{Path(raw_link).name}]({raw_link})."]
    return "\n".join(lines)


def not_recorded(script: str) -> str:
    return "\n".join(
        [
            '!!! note "Not recorded yet"',
            f"    `benchmarks/{script}.py` has not recorded a run yet. For the figures measured while earlier",
            f"    releases were developed, see the [changelog]({CHANGELOG_FIGURES}).",
        ]
    )


def section(script: str, docs_dir: Path) -> str:
    """What the marker of ``script`` becomes: its newest record (and those of its named variants,
    ``<script>.<variant>.json``, e.g. one per search space), or the note that there is none."""
    data = docs_dir / DATA
    paths = [p for p in [data / f"{script}.json", *sorted(data.glob(f"{script}.*.json"))] if p.is_file()]
    if not paths:
        return not_recorded(script)
    parts = []
    for path in paths:
        try:
            record = json.loads(path.read_text())
        except ValueError as e:
            raise PluginError(f"{path}: not JSON ({e})") from e
        if len(paths) > 1:
            variant = path.name[len(script) + 1 : -len(".json")] or "default"
            parts.append(f"### {variant}\n")
        parts.append(render(record, raw_link=f"data/{path.name}"))
    return "\n\n".join(parts)


def scripts(root: Path) -> list[str]:
    """The benchmark scripts (``benchmarks/*.py`` but the recorder)."""
    return sorted(p.stem for p in (root / "benchmarks").glob("*.py") if p.stem != "record")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    uri = page.file.src_uri
    if not uri.startswith(SECTION) or uri == INDEX:
        return markdown
    found = MARKER.findall(markdown)
    if len(found) != 1:
        raise PluginError(f"{uri} must hold one line <!-- hwnas-benchmark: SCRIPT --> (it holds {len(found)})")
    root = _root(config)
    script = found[0]
    if script not in scripts(root):
        raise PluginError(f"{uri} names benchmarks/{script}.py, which does not exist")
    docs_dir = Path(config["docs_dir"]) if config is not None and config.get("docs_dir") else root / "docs"
    return MARKER.sub(lambda _: section(script, docs_dir), markdown)
