"""Typed checks for values read from files and flags: one ConfigError naming the key and what was expected.

Integers must be integers (``3.7`` is refused, never truncated; ``True`` is not a number), numbers
must be finite, and sequences are checked element by element.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

from hwnas.core.errors import ConfigError


def _fail(where: str, expected: str, value: Any) -> ConfigError:
    shown = repr(value)
    return ConfigError(f"{where} must be {expected}, got {shown[:80] + '...' if len(shown) > 80 else shown}")


MAX_INT = 2**31 - 1  # larger sizes are typos, and would overflow float arithmetic downstream


def integer(value: Any, where: str, *, minimum: int | None = 1, maximum: int = MAX_INT) -> int:
    """An int (an integral float such as 4.0 too) between ``minimum`` and ``maximum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(where, "an integer", value)
    if isinstance(value, numbers.Integral):
        v = int(value)
    elif math.isfinite(value) and float(value).is_integer():
        v = int(float(value))
    else:
        raise _fail(where, "an integer", value)
    if minimum is not None and v < minimum:
        raise _fail(where, f"an integer of at least {minimum}", value)
    if v > maximum:
        raise _fail(where, f"an integer of at most {maximum}", value)
    return v


def number(value: Any, where: str, *, positive: bool = True) -> float:
    """A finite number (positive unless told otherwise)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _fail(where, "a finite number", value)
    x = float(value)
    if abs(x) > 1e12:
        raise _fail(where, "a number of at most 1e12", value)
    if positive and not x > 0:
        raise _fail(where, "a positive number", value)
    return x


def integers(value: Any, where: str, *, minimum: int | None = 1, scalar_ok: bool = False) -> list[int]:
    """A list of integers (a lone integer too with ``scalar_ok``)."""
    return [integer(v, f"{where}[{i}]", minimum=minimum) for i, v in enumerate(_seq(value, where, scalar_ok))]


def numbers_(value: Any, where: str, *, positive: bool = True, scalar_ok: bool = False) -> list[float]:
    """A list of finite numbers (a lone number too with ``scalar_ok``)."""
    return [number(v, f"{where}[{i}]", positive=positive) for i, v in enumerate(_seq(value, where, scalar_ok))]


def _seq(value: Any, where: str, scalar_ok: bool) -> Sequence[Any]:
    if isinstance(value, (list, tuple)):
        if not value:
            raise _fail(where, "a non-empty list", value)
        return value
    if scalar_ok and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return [value]
    raise _fail(where, "a list", value)


def mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "a mapping", value)
    return value


def text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, "a string", value)
    return value
