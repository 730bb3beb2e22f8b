"""From a loaded split to the prompts of one run: shuffle, take ``limit``, assign sample ids, drop invalid rows.

The subset is taken exactly as the paper does (``shuffle(seed=shuffle_seed).select(range(limit))``)
and only then are invalid prompts dropped, so a run sees the same rows as the paper's script
(fewer than ``limit`` prompts when some are invalid; ``skipped`` says how many and why).
A prompt's ``sample_id`` is ``str(row[id_field])`` or ``"{short_name}-{row}"``, where ``row`` is
the row's index in the split before any filtering or shuffling (``ROW_COLUMN``), so the id of a
prompt does not depend on the seed, the limit or the subset filter.
Each skipped row is logged with its place (``where(row)``: a JSONL file's line, else the row
index), the first ``LOGGED_PER_REASON`` of each reason, then how many more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import datasets

from entrgi.data.jsonl import INVALID_COLUMN
from entrgi.engine.types import PromptItem

log = logging.getLogger(__name__)

ROW_COLUMN = "__entrgi_row__"  # original row index, added before filtering and shuffling
LOGGED_PER_REASON = 5  # skipped rows logged one by one per reason; the rest as a count


@dataclass
class LoadedPrompts:
    """The prompts of one run and, per reason, how many rows were skipped."""

    items: list[PromptItem]
    skipped: dict[str, int] = field(default_factory=dict)


def require_column(ds: datasets.Dataset, column: str | None, key: str) -> None:
    if column not in ds.column_names:
        columns = [c for c in ds.column_names if c != ROW_COLUMN]
        raise ValueError(
            f"{key}={column!r} is not a column of the dataset; available columns: {columns}. Set {key} to one of them."
        )


def take_prompts(
    ds: datasets.Dataset,
    *,
    source: str,
    short_name: str,
    prompt_field: str,
    id_field: str | None,
    limit: int | None,
    shuffle_seed: int | None,
    on_invalid: str,
    where: Callable[[int], str] = lambda row: f"row {row}",
) -> LoadedPrompts:
    """Shuffle, take ``limit`` rows, assign sample ids and drop (or reject) invalid prompts.

    ``ds`` carries the original row index in ``ROW_COLUMN``; ``where(row)`` names a row's place in
    messages (``"line 3, row 2"`` for a JSONL file).
    """
    require_column(ds, prompt_field, "data.prompt_field")
    ids: dict[int, str] | None = None
    if id_field is not None:
        require_column(ds, id_field, "data.id_field")
        ids = _unique_ids(ds, id_field, where)

    if shuffle_seed is not None:
        ds = ds.shuffle(seed=shuffle_seed, keep_in_memory=True)
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))), keep_in_memory=True)

    items: list[PromptItem] = []
    skipped: dict[str, int] = {}
    marked = INVALID_COLUMN in ds.column_names  # placeholder rows for bad lines of a JSONL file
    rows = ds.select_columns([prompt_field, ROW_COLUMN] + ([INVALID_COLUMN] if marked else [])).to_dict()
    marks = rows[INVALID_COLUMN] if marked else [None] * len(rows[prompt_field])
    for prompt, row, mark in zip(rows[prompt_field], rows[ROW_COLUMN], marks, strict=True):
        sample_id = ids[row] if ids is not None else f"{short_name}-{row}"
        reason = mark or _invalid_reason(prompt)
        if reason is None:
            items.append(PromptItem(sample_id=sample_id, prompt=prompt))
        elif on_invalid == "skip":
            skipped[reason] = skipped.get(reason, 0) + 1
            if skipped[reason] <= LOGGED_PER_REASON:
                named = "" if mark else f" (sample {sample_id!r})"  # a bad line's placeholder has no id of its own
                log.warning("data.path=%r, %s%s: skipped, %s", source, where(row), named, reason)
        else:
            raise ValueError(
                f"data.path={source!r}, {where(row)} (sample {sample_id!r}): field "
                f"data.prompt_field={prompt_field!r} is invalid ({reason}, got {_preview(prompt)}). "
                "Fix the data, or set data.on_invalid=skip to skip such rows."
            )
    for reason, count in skipped.items():
        if count > LOGGED_PER_REASON:
            log.warning(
                "data.path=%r: %d more rows skipped, %s (%d in all)", source, count - LOGGED_PER_REASON, reason, count
            )
    return LoadedPrompts(items=items, skipped=skipped)


def _unique_ids(ds: datasets.Dataset, id_field: str, where: Callable[[int], str]) -> dict[int, str]:
    """Original row index -> ``str(row[id_field])``; raises on missing or duplicate ids."""
    marked = INVALID_COLUMN in ds.column_names
    cols = ds.select_columns([id_field, ROW_COLUMN] + ([INVALID_COLUMN] if marked else [])).to_dict()
    ids: dict[int, str] = {}
    seen: dict[str, int] = {}
    marks = cols[INVALID_COLUMN] if marked else [None] * len(cols[id_field])
    for value, row, mark in zip(cols[id_field], cols[ROW_COLUMN], marks, strict=True):
        if mark is not None:  # a placeholder for a bad line: skipped, it needs no id
            ids[row] = f"line-{row}"
            continue
        if value is None:
            raise ValueError(
                f"{where(row)} has no value in data.id_field={id_field!r}; fill it in, or set "
                "data.id_field=null to use row indices as ids."
            )
        sample_id = str(value)
        if sample_id in seen:
            raise ValueError(
                f"data.id_field={id_field!r} is not unique: rows {seen[sample_id]} and {row} "
                f"both have id {sample_id!r}. Choose a unique column, or set "
                "data.id_field=null to use row indices as ids."
            )
        seen[sample_id] = row
        ids[row] = sample_id
    return ids


def _preview(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def _invalid_reason(prompt: Any) -> str | None:
    """Why ``prompt`` cannot be used (a ``LoadedPrompts.skipped`` key), or None if it can."""
    if prompt is None:
        return "missing_prompt"
    if not isinstance(prompt, str):
        return "non_string_prompt"
    if not prompt.strip():
        return "empty_prompt"
    return None
