"""The one place user values are checked: every constructor that takes a config value calls these.

Each raises ``ValueError`` naming the key (``schedule.top_p``) and saying what it accepts, so a bad
override fails before anything loads. Booleans are never numbers here (``True`` is not a count).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def _suffix(hint: str) -> str:
    return f": {hint}" if hint else ""


def is_number(value: Any) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def require_positive(value: Any, key: str, kind: type = int, hint: str = "") -> None:
    """``value`` is a positive ``kind`` (int, or float: any finite number)."""
    ok = (is_integer(value) if kind is int else is_number(value)) and value > 0
    if not ok:
        name = "integer" if kind is int else "number"
        raise ValueError(f"{key} must be a positive {name}, got {value!r}{_suffix(hint)}")


def require_optional_positive(value: Any, key: str, kind: type = int, hint: str = "") -> None:
    """``None`` or a positive ``kind``."""
    if value is not None:
        try:
            require_positive(value, key, kind)
        except ValueError:
            name = "integer" if kind is int else "number"
            raise ValueError(f"{key} must be a positive {name} or null, got {value!r}{_suffix(hint)}") from None


def require_integer(value: Any, key: str, hint: str = "") -> None:
    """Any integer (a seed, say), not a bool."""
    if not is_integer(value):
        raise ValueError(f"{key} must be an integer, got {value!r}{_suffix(hint)}")


def require_range(
    value: Any, key: str, low: float, high: float, low_open: bool = False, high_open: bool = False, hint: str = ""
) -> None:
    """A finite number in the interval ``low``..``high`` (open at the ends flagged open)."""
    ok = (
        is_number(value)
        and (value > low if low_open else value >= low)
        and (value < high if high_open else value <= high)
    )
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{key} must be a number in {interval}, got {value!r}{_suffix(hint)}")


def require_choice(value: Any, key: str, choices: Iterable[Any], hint: str = "") -> None:
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{key}={value!r}; choose one of {choices}{_suffix(hint)}")


def require_bool(value: Any, key: str, hint: str = "") -> None:
    """``true`` or ``false``; not 0 / 1 or a string (``"false"`` would be truthy)."""
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}{_suffix(hint)}")
