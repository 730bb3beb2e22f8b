"""A JSONL prompt file checked line by line before ``datasets`` reads it.

``datasets`` stops at an empty file with a bare ``StopIteration`` and at a broken line with an
error that names neither the line nor a fix. ``check_jsonl`` finds those first: with
``on_invalid=error`` it raises naming the file, the line and what to do; with ``skip`` it returns
a copy in which each bad line is a placeholder row marked with its reason, so every other row
keeps its index (and its ``sample_id``) and the bad ones are counted like invalid prompts.
Lines are split at ``\n`` only, as ``datasets`` splits them (a string may hold U+2028 or U+0085), and a
line of JSON whitespace only is no row; ``row_lines`` maps each row to its line for messages.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

INVALID_COLUMN = "__entrgi_invalid__"  # the reason a placeholder row stands for a bad line


class EmptyPromptFile(ValueError):
    """The file holds no rows at all."""


def check_jsonl(path: str, prompt_field: str, on_invalid: str) -> str:
    """-> the path to load (``path`` itself, or a copy with marked placeholder rows, which the source
    counts by kind like invalid prompts). Raises on the first bad line under ``on_invalid=error``,
    and on an empty file under either mode (``EmptyPromptFile``)."""
    lines = _lines(path)
    if all(_blank(line) for line in lines):
        raise EmptyPromptFile(
            f"data.path={path!r} is empty: no prompts to run. Point data.path to a file with one "
            'JSON object per line, e.g. {"prompt": "..."}.'
        )
    out, bad = [], False
    for number, line in enumerate(lines, start=1):
        if _blank(line):
            out.append(line)
            continue
        reason = _bad_line(line)
        if reason is None:
            out.append(line)
            continue
        if on_invalid == "error":
            raise ValueError(
                f"data.path={path!r}, line {number}: {reason[1]}. Fix or delete that line, or set "
                "data.on_invalid=skip to skip such lines."
            )
        bad = True
        out.append(json.dumps({prompt_field: None, INVALID_COLUMN: reason[0]}))
    if not bad:
        return path
    folder = Path(tempfile.mkdtemp(prefix="entrgi-data-"))
    clean = folder / Path(path).name  # same name: the same short name in sample ids
    clean.write_text("\n".join(out) + "\n", encoding="utf-8")
    return str(clean)


def row_lines(path: str) -> list[int]:
    """The 1-based line number of each row of a JSONL file (blank lines are no rows)."""
    return [number for number, line in enumerate(_lines(path), start=1) if not _blank(line)]


def _lines(path: str) -> list[str]:
    return Path(path).read_text(encoding="utf-8", errors="replace").split("\n")


def _blank(line: str) -> bool:
    return not line.strip(" \t\r")  # JSON's whitespace


def _bad_line(line: str) -> tuple[str, str] | None:
    """(kind, description) when the line is not one JSON object, else None."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        return "broken_json_line", f"not valid JSON ({err.msg} at column {err.colno})"
    if not isinstance(value, dict):
        return "not_an_object", f"a JSON {type(value).__name__}, not an object with a prompt field"
    return None
