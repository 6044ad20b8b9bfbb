"""Presentation, once: text and Markdown tables, JSON on stdout, and progress on stderr.

Shared by the CLI and by the report files the pipelines write, so it sits beside both rather than
inside either. Tables are formatted here rather than with pandas: ``DataFrame.to_string`` cannot
left-align text columns and ``to_markdown`` needs tabulate, which hwnas does not depend on.
Progress uses tqdm's own switch (``disable=None``: off when stderr is not a terminal) and then
writes plain lines instead, so logs and CI output stay readable.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any, Mapping, Sequence


def cell(v: Any) -> str:
    """A value as a table cell: floats with 4 significant digits, None as '-'."""
    return f"{v:.4g}" if isinstance(v, float) else ("-" if v is None else str(v))


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]], right: bool = False) -> str:
    """A fixed-width table with a rule under the header; ``right`` right-aligns every column but the
    first (for numbers). Cells that are not strings go through :func:`cell`."""
    cells = [[c if isinstance(c, str) else cell(c) for c in r] for r in rows]
    widths = [max(len(str(r[i])) for r in [header, *cells]) for i in range(len(header))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if right and i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)])


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Dict rows as a left-aligned text table of ``columns``."""
    return text_table(columns, [[cell(r.get(c)) for c in columns] for r in rows])


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Dict rows as a Markdown table of ``columns``."""
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(out)


def key_values(pairs: Sequence[tuple[str, Any]]) -> str:
    """'key  value' lines with the keys padded to one width."""
    width = max((len(k) for k, _ in pairs), default=0)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in pairs)


def jsonable(obj: Any) -> Any:
    """A typed result as plain data: its ``to_dict()`` if it has one, dataclasses as dicts."""
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return obj


def print_json(obj: Any) -> None:
    print(json.dumps(jsonable(obj), indent=2, default=str))


def log(message: str) -> None:
    """One line on stderr, flushed (progress and notes; stdout keeps the result)."""
    print(message, file=sys.stderr, flush=True)


class Progress:
    """A tqdm bar on a terminal; elsewhere a plain line every ``every`` steps (default ~10 %) and at
    the end. ``step(note)`` advances by one: the note is the bar's postfix, or the end of the line."""

    def __init__(self, total: int, desc: str, unit: str = "it", every: int | None = None, initial: int = 0) -> None:
        from tqdm.auto import tqdm

        self.total, self.desc, self.done = total, desc, initial
        self.every = every or max(1, total // 10)
        self.bar = tqdm(
            total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, disable=None, file=sys.stderr
        )

    @property
    def plain(self) -> bool:
        return bool(self.bar.disable)

    def step(self, note: str = "", line: str | None = None) -> None:
        """Advance by one. ``line`` replaces the plain line's default 'DESC done/total  note'."""
        self.done += 1
        if not self.plain:
            if note:
                self.bar.set_postfix_str(note, refresh=False)
            self.bar.update(1)
        elif self.done % self.every == 0 or self.done == self.total:
            log(line if line is not None else f"{self.desc} {self.done}/{self.total}" + (f"  {note}" if note else ""))

    def write(self, message: str) -> None:
        """A line that does not break the bar."""
        if self.plain:
            log(message)
        else:
            self.bar.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
