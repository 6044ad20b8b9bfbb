"""Reading an agent's answer without trusting it: every figure finite, positive and below a sane ceiling,
integers and lists bounded, strings short; anything else is :class:`BadAnswer` (one line)."""

from __future__ import annotations

import json
import math
from typing import Any

from hwnas.agent import wire
from hwnas.profiling.protocol import Measurement

MAX_MS = 600_000.0  # one inference over ten minutes is not a latency this toolkit measures
MAX_SECONDS = 7 * 86_400.0
MAX_COUNT = 10**9
MAX_LIST = 100_000
MAX_TEXT = 1_000
MAX_KEYS = 256


class BadAnswer(ValueError):
    """The answer is not one an honest agent gives; the message says which field and why."""


def loads(text: bytes) -> Any:
    """JSON without NaN or Infinity."""

    def no_constant(name: str) -> None:
        raise BadAnswer(f"{name} is not a number")

    try:
        return json.loads(text, parse_constant=no_constant)
    except (ValueError, RecursionError) as e:
        raise BadAnswer(f"not JSON ({wire.one_line(e, 80)})") from None


def number(x: Any, what: str, lo: float = 0.0, hi: float = MAX_MS, lo_open: bool = True) -> float:
    """``x`` as a float in (lo, hi) (or [lo, hi) when not ``lo_open``)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise BadAnswer(f"{what} is not a number")
    v = float(x) if abs(x) < 1e300 else math.inf
    if not (math.isfinite(v) and (v > lo if lo_open else v >= lo) and v < hi):
        raise BadAnswer(f"{what} is {x!r:.40}, not within {'(' if lo_open else '['}{lo:g}, {hi:g})")
    return v


def count(x: Any, what: str, hi: int = MAX_COUNT) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= hi:
        raise BadAnswer(f"{what} is not a whole number from 0 to {hi:,}")
    return x


def text(x: Any, what: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(x, str) or len(x) > limit:
        raise BadAnswer(f"{what} is not a string of at most {limit} characters")
    return x


def mapping(x: Any, what: str, limit: int = MAX_KEYS) -> dict[str, Any]:
    if not isinstance(x, dict) or len(x) > limit:
        raise BadAnswer(f"{what} is not an object of at most {limit} entries")
    for k in x:
        text(k, f"a key of {what}", 100)
    return x


def listing(x: Any, what: str, limit: int = MAX_LIST) -> list[Any]:
    if not isinstance(x, list) or len(x) > limit:
        raise BadAnswer(f"{what} is not a list of at most {limit:,} items")
    return x


def strings(x: Any, what: str) -> dict[str, str]:
    return {k: text(v, f"{what}.{k}", 300) for k, v in mapping(x, what, 64).items()}


def measurement(d: Any, what: str) -> Measurement:
    d = mapping(d, what)
    ms = {k: number(v, f"{what}.{k}") for k, v in d.items() if k in ("latency_ms", "median_ms")}
    if len(ms) != 2:
        raise BadAnswer(f"{what} lacks latency_ms or median_ms")
    blocks = [number(v, f"{what}.block_ms[{i}]") for i, v in enumerate(listing(d.get("block_ms"), f"{what}.block_ms"))]
    figures = {k: number(v, f"{what}.figures.{k}") for k, v in mapping(d.get("figures", {}), f"{what}.figures").items()}
    refs = {k: number(v, f"{what}.refs.{k}") for k, v in mapping(d.get("refs", {}), f"{what}.refs").items()}
    return Measurement(
        latency_ms=ms["latency_ms"],
        median_ms=ms["median_ms"],
        block_ms=blocks,
        spread=number(d.get("spread"), f"{what}.spread", 0.0, 1e6, lo_open=False),
        runs=count(d.get("runs"), f"{what}.runs"),
        warmup_runs=count(d.get("warmup_runs"), f"{what}.warmup_runs"),
        attempts=count(d.get("attempts"), f"{what}.attempts", 10_000),
        figures=figures,
        refs=refs,
    )
