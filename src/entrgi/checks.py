"""Config value checks shared by the run and training entry points: fail before anything loads."""

from __future__ import annotations

from typing import Any


def require_positive(value: Any, key: str, kind: type = int, hint: str = "") -> None:
    """Raise ``ValueError`` naming ``key`` unless ``value`` is a positive ``kind`` (int, or float: any number)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if kind is int:
        ok = ok and isinstance(value, int)
    if not ok:
        name = "integer" if kind is int else "number"
        raise ValueError(f"{key} must be a positive {name}, got {value!r}" + (f": {hint}" if hint else ""))
