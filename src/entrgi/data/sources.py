"""Prompt sources: hub datasets, local JSONL / Parquet files and the synthetic testbed.

Each source has a typed constructor (Hydra instantiates it from ``conf/data/*.yaml``) and a
``load()`` that returns the prompts of one run plus counts of the rows it skipped.
Hub and local sources take the subset exactly as the paper does::

    load_dataset(path, split=split).shuffle(seed=shuffle_seed).select(range(limit))

and only then drop invalid prompts, so a run sees the same rows as the paper's script
(fewer than ``limit`` prompts when some are invalid; ``skipped`` says how many and why).
A prompt's ``sample_id`` is ``str(row[id_field])`` or ``"{short_name}-{row}"``, where
``row`` is the row's index in the split before any filtering or shuffling, so the id of a
prompt does not depend on the seed, the limit or the subset filter.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from entrgi.checks import require_choice, require_integer, require_optional_positive, require_positive
from entrgi.data.jsonl import INVALID_COLUMN, EmptyPromptFile, check_jsonl
from entrgi.types import PromptItem

ON_INVALID = ("skip", "error")
_ROW_COLUMN = "__entrgi_row__"  # original row index, added before filtering and shuffling
_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}


@dataclass
class LoadedPrompts:
    """The prompts of one run and, per reason, how many rows were skipped."""

    items: list[PromptItem]
    skipped: dict[str, int] = field(default_factory=dict)


class HubPromptSource:
    """Prompts from a dataset on the Hugging Face Hub, a local dataset directory or a data file.

    ``path`` is anything ``datasets.load_dataset`` takes (``THU-KEG/RM-Bench``, a local
    directory of Parquet / JSONL files whose names carry the split, as on the hub) or a single
    ``.jsonl`` / ``.json`` / ``.parquet`` file, which is loaded as split ``split``.
    ``subset`` (one name or a list) keeps only rows whose ``subset_field`` column holds one of
    them (Reward-Bench-2's ``subset`` column); ``subset=None`` keeps all rows.
    ``name`` is the dataset configuration name.
    """

    def __init__(
        self,
        path: str,
        split: str,
        prompt_field: str = "prompt",
        id_field: str | None = None,
        subset_field: str | None = None,
        subset: str | Sequence[str] | None = None,
        limit: int | None = None,
        shuffle_seed: int | None = None,
        name: str | None = None,
        on_invalid: str = "skip",
    ) -> None:
        _check_common(limit, shuffle_seed, on_invalid)
        if subset is not None and subset_field is None:
            raise ValueError(
                f"data.subset={subset!r} needs data.subset_field, the column that holds the "
                "subset names (Reward-Bench-2: subset)."
            )
        self.path = str(path)
        self.split = split
        self.prompt_field = prompt_field
        self.id_field = id_field
        self.subset_field = subset_field
        self.subset = None if subset is None else _as_str_list(subset)
        self.limit = limit
        self.shuffle_seed = shuffle_seed
        self.name = name
        self.on_invalid = on_invalid

    def load(self) -> LoadedPrompts:
        path = _checked(self.path, self.prompt_field, self.on_invalid)
        if path is None:
            return LoadedPrompts(items=[], skipped={"empty_file": 1})
        ds = _load_split(path, self.name, self.split)
        ds = ds.add_column(_ROW_COLUMN, list(range(len(ds))))
        if self.subset is not None:
            ds = self._filter_subset(ds)
        return _take_prompts(
            ds,
            source=self.path,
            short_name=_short_name(self.path),
            prompt_field=self.prompt_field,
            id_field=self.id_field,
            limit=self.limit,
            shuffle_seed=self.shuffle_seed,
            on_invalid=self.on_invalid,
        )

    def _filter_subset(self, ds: datasets.Dataset) -> datasets.Dataset:
        _require_column(ds, self.subset_field, "data.subset_field")
        wanted = set(self.subset)
        values = list(ds[self.subset_field])
        keep = [i for i, value in enumerate(values) if value in wanted]
        if not keep:
            available = sorted({str(v) for v in values})
            raise ValueError(
                f"data.subset={self.subset} matches no row of {self.path!r} (column "
                f"{self.subset_field!r}); available subsets: {available}."
            )
        return ds.select(keep, keep_in_memory=True)


class LocalPromptSource:
    """Prompts from one local ``.jsonl``, ``.json`` (a list of records) or ``.parquet`` file."""

    def __init__(
        self,
        path: str,
        prompt_field: str = "prompt",
        id_field: str | None = None,
        limit: int | None = None,
        shuffle_seed: int | None = None,
        on_invalid: str = "skip",
    ) -> None:
        _check_common(limit, shuffle_seed, on_invalid)
        if Path(path).suffix.lower() not in _BUILDERS:
            raise ValueError(
                f"data.path={str(path)!r} is not a .jsonl, .json or .parquet file; convert it to one of these formats."
            )
        self.path = str(path)
        self.prompt_field = prompt_field
        self.id_field = id_field
        self.limit = limit
        self.shuffle_seed = shuffle_seed
        self.on_invalid = on_invalid

    def load(self) -> LoadedPrompts:
        if not os.path.isfile(self.path):
            raise FileNotFoundError(
                f"data.path={self.path!r} does not exist (resolved to "
                f"{os.path.abspath(self.path)!r}); point data.path to a local prompt file."
            )
        path = _checked(self.path, self.prompt_field, self.on_invalid)
        if path is None:
            return LoadedPrompts(items=[], skipped={"empty_file": 1})
        ds = _load_split(path, None, "train")
        ds = ds.add_column(_ROW_COLUMN, list(range(len(ds))))
        return _take_prompts(
            ds,
            source=self.path,
            short_name=_short_name(self.path),
            prompt_field=self.prompt_field,
            id_field=self.id_field,
            limit=self.limit,
            shuffle_seed=self.shuffle_seed,
            on_invalid=self.on_invalid,
        )


class TestbedPromptSource:
    """Prompts in the project's synthetic testbed language (no downloads, any size)."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, limit: int = 64, seed: int = 0) -> None:
        require_positive(limit, "data.limit")
        require_integer(seed, "data.seed")
        self.limit = limit
        self.seed = seed

    def load(self) -> LoadedPrompts:
        from entrgi.testbed.language import sample_prompts

        prompts = sample_prompts(self.limit, self.seed)
        items = [PromptItem(f"testbed-{self.seed}-{i}", p.text) for i, p in enumerate(prompts)]
        return LoadedPrompts(items=items, skipped={})


def _check_common(limit: Any, shuffle_seed: Any, on_invalid: Any) -> None:
    """Validate the arguments every file/hub source shares, before anything is loaded."""
    require_optional_positive(limit, "data.limit", hint="null for all rows")
    if shuffle_seed is not None:
        require_integer(shuffle_seed, "data.shuffle_seed", hint="or null for file order")
    require_choice(on_invalid, "data.on_invalid", ON_INVALID)


def _as_str_list(subset: str | Sequence[str]) -> list[str]:
    # Hydra passes lists as ListConfig, which is a Sequence too.
    return [subset] if isinstance(subset, str) else [str(s) for s in subset]


def _short_name(path: str) -> str:
    """``THU-KEG/RM-Bench`` -> ``RM-Bench``; ``/x/prompts.jsonl`` -> ``prompts``."""
    p = Path(path.rstrip("/\\"))
    return p.stem if p.suffix.lower() in _BUILDERS else p.name


def _load_split(path: str, name: str | None, split: str) -> datasets.Dataset:
    """One split of a hub dataset, a local dataset directory or a single data file."""
    suffix = Path(path).suffix.lower()
    try:
        if os.path.isfile(path) and suffix in _BUILDERS:
            return datasets.load_dataset(_BUILDERS[suffix], data_files={split: path}, split=split)
        return datasets.load_dataset(path, name, split=split)
    except ValueError as err:
        if "split" not in str(err).lower():
            raise
        raise ValueError(
            f"data.split={split!r} is not a split of data.path={path!r}; set data.split to "
            f"one of the dataset's splits. ({err})"
        ) from err
    except (ConnectionError, FileNotFoundError) as err:
        error = FileNotFoundError if isinstance(err, FileNotFoundError) else ConnectionError
        raise error(
            f"could not load data.path={path!r} (split {split!r}); check the hub id, or "
            "download the dataset where there is network and set data.path to its local "
            f"directory. ({err})"
        ) from err


def _checked(path: str, prompt_field: str, on_invalid: str) -> str | None:
    """The path to load: a local JSONL file checked line by line (``entrgi.data.jsonl``; bad lines
    become marked placeholder rows), other paths as they are; None for an empty file under
    ``on_invalid=skip`` (an error under ``error``)."""
    if not (os.path.isfile(path) and Path(path).suffix.lower() == ".jsonl"):
        return path
    try:
        return check_jsonl(path, prompt_field, on_invalid)
    except EmptyPromptFile:
        if on_invalid == "error":
            raise
        return None


def _require_column(ds: datasets.Dataset, column: str | None, key: str) -> None:
    if column not in ds.column_names:
        columns = [c for c in ds.column_names if c != _ROW_COLUMN]
        raise ValueError(
            f"{key}={column!r} is not a column of the dataset; available columns: {columns}. Set {key} to one of them."
        )


def _take_prompts(
    ds: datasets.Dataset,
    *,
    source: str,
    short_name: str,
    prompt_field: str,
    id_field: str | None,
    limit: int | None,
    shuffle_seed: int | None,
    on_invalid: str,
) -> LoadedPrompts:
    """Shuffle, take ``limit`` rows, assign sample ids and drop (or reject) invalid prompts.

    ``ds`` carries the original row index in ``_ROW_COLUMN``.
    """
    _require_column(ds, prompt_field, "data.prompt_field")
    ids: dict[int, str] | None = None
    if id_field is not None:
        _require_column(ds, id_field, "data.id_field")
        ids = _unique_ids(ds, id_field)

    if shuffle_seed is not None:
        ds = ds.shuffle(seed=shuffle_seed, keep_in_memory=True)
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))), keep_in_memory=True)

    items: list[PromptItem] = []
    skipped: dict[str, int] = {}
    marked = INVALID_COLUMN in ds.column_names  # placeholder rows for bad lines of a JSONL file
    rows = ds.select_columns([prompt_field, _ROW_COLUMN] + ([INVALID_COLUMN] if marked else [])).to_dict()
    marks = rows[INVALID_COLUMN] if marked else [None] * len(rows[prompt_field])
    for prompt, row, mark in zip(rows[prompt_field], rows[_ROW_COLUMN], marks, strict=True):
        sample_id = ids[row] if ids is not None else f"{short_name}-{row}"
        reason = mark or _invalid_reason(prompt)
        if reason is None:
            items.append(PromptItem(sample_id=sample_id, prompt=prompt))
        elif on_invalid == "skip":
            skipped[reason] = skipped.get(reason, 0) + 1
        else:
            raise ValueError(
                f"data.path={source!r}, row {row} (sample {sample_id!r}): field "
                f"data.prompt_field={prompt_field!r} is invalid ({reason}, got {_preview(prompt)}). "
                "Fix the data, or set data.on_invalid=skip to skip such rows."
            )
    return LoadedPrompts(items=items, skipped=skipped)


def _unique_ids(ds: datasets.Dataset, id_field: str) -> dict[int, str]:
    """Original row index -> ``str(row[id_field])``; raises on missing or duplicate ids."""
    marked = INVALID_COLUMN in ds.column_names
    cols = ds.select_columns([id_field, _ROW_COLUMN] + ([INVALID_COLUMN] if marked else [])).to_dict()
    ids: dict[int, str] = {}
    seen: dict[str, int] = {}
    marks = cols[INVALID_COLUMN] if marked else [None] * len(cols[id_field])
    for value, row, mark in zip(cols[id_field], cols[_ROW_COLUMN], marks, strict=True):
        if mark is not None:  # a placeholder for a bad line: skipped, it needs no id
            ids[row] = f"line-{row}"
            continue
        if value is None:
            raise ValueError(
                f"row {row} has no value in data.id_field={id_field!r}; fill it in, or set "
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
