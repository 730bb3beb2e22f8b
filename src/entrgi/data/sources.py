"""Prompt sources: ``PromptSource`` (a hub dataset or local files) and ``TestbedPromptSource``.

Each source has a typed constructor (Hydra instantiates ``data.source`` of ``conf/data/*.yaml`` as
it is) and a ``load()`` that returns the prompts of one run plus counts of the rows it skipped.
``PromptSource`` takes the subset exactly as the paper does::

    load_dataset(path, split=split).shuffle(seed=shuffle_seed).select(range(limit))

then drops invalid prompts (``entrgi.data.rows``). Errors name the key a run sets: the data
options keep ``path``, ``prompt_field``, ``id_field``, ``limit`` and ``on_invalid`` at ``data.*``
(the source reads them by interpolation) and the rest under ``data.source.*``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import datasets

from entrgi.data.jsonl import row_lines
from entrgi.data.origin import check_local_file, checked_path, is_local, load_split, require_exists, short_name
from entrgi.data.rows import ROW_COLUMN, LoadedPrompts, require_column, take_prompts
from entrgi.engine.checks import require_choice, require_integer, require_optional_positive, require_positive
from entrgi.engine.types import PromptItem

log = logging.getLogger(__name__)

ON_INVALID = ("skip", "error")


class PromptSource:
    """Prompts from a dataset on the Hugging Face Hub, a local dataset folder or a local data file.

    ``path`` decides which (``entrgi.data.origin.is_local``): an existing path or one written as a
    path is local — a ``.jsonl`` / ``.json`` (a list of records) / ``.parquet`` file, loaded as the
    split ``split``, or a folder of such files whose names carry the split, as on the hub;
    anything else is a hub id (``THU-KEG/RM-Bench``), loaded with ``datasets.load_dataset``.
    ``subset`` (one name or a list) keeps only rows whose ``subset_field`` column holds one of
    them (Reward-Bench-2's ``subset`` column); ``subset=None`` keeps all rows.
    ``name`` is the dataset configuration name.
    """

    def __init__(
        self,
        path: str,
        split: str = "train",
        prompt_field: str = "prompt",
        id_field: str | None = None,
        subset_field: str | None = None,
        subset: str | Sequence[str] | None = None,
        limit: int | None = None,
        shuffle_seed: int | None = None,
        name: str | None = None,
        on_invalid: str = "skip",
    ) -> None:
        require_optional_positive(limit, "data.limit", hint="null for all rows")
        if shuffle_seed is not None:
            require_integer(shuffle_seed, "data.source.shuffle_seed", hint="or null for file order")
        require_choice(on_invalid, "data.on_invalid", ON_INVALID)
        if subset is not None and subset_field is None:
            raise ValueError(
                f"data.source.subset={subset!r} needs data.source.subset_field, the column that holds the "
                "subset names (Reward-Bench-2: subset)."
            )
        self.path = str(path)
        check_local_file(self.path)
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
        if is_local(self.path):
            require_exists(self.path)
        path = checked_path(self.path, self.prompt_field, self.on_invalid)
        if path is None:
            log.warning("data.path=%r is empty: skipped, empty_file", self.path)
            return LoadedPrompts(items=[], skipped={"empty_file": 1})
        ds = load_split(path, self.name, self.split)
        ds = ds.add_column(ROW_COLUMN, list(range(len(ds))))
        if self.subset is not None:
            ds = self._filter_subset(ds)
        return take_prompts(
            ds,
            source=self.path,
            short_name=short_name(self.path),
            prompt_field=self.prompt_field,
            id_field=self.id_field,
            limit=self.limit,
            shuffle_seed=self.shuffle_seed,
            on_invalid=self.on_invalid,
            where=self._where(),
        )

    def _where(self) -> Callable[[int], str]:
        """A row's place in messages: its line in a JSONL file (and its row), else its row index."""
        if not (os.path.isfile(self.path) and Path(self.path).suffix.lower() == ".jsonl"):
            return lambda row: f"row {row}"
        lines = row_lines(self.path)
        return lambda row: f"line {lines[row]}, row {row}" if row < len(lines) else f"row {row}"

    def _filter_subset(self, ds: datasets.Dataset) -> datasets.Dataset:
        require_column(ds, self.subset_field, "data.source.subset_field")
        wanted = set(self.subset)
        values = list(ds[self.subset_field])
        keep = [i for i, value in enumerate(values) if value in wanted]
        if not keep:
            available = sorted({str(v) for v in values})
            raise ValueError(
                f"data.source.subset={self.subset} matches no row of {self.path!r} (column "
                f"{self.subset_field!r}); available subsets: {available}."
            )
        return ds.select(keep, keep_in_memory=True)


class TestbedPromptSource:
    """Prompts in the project's synthetic testbed language (no downloads, any size)."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, limit: int = 64, seed: int = 0) -> None:
        require_positive(limit, "data.limit")
        require_integer(seed, "data.source.seed")
        self.limit = limit
        self.seed = seed

    def load(self) -> LoadedPrompts:
        from entrgi.testbed.language import sample_prompts

        prompts = sample_prompts(self.limit, self.seed)
        items = [PromptItem(f"testbed-{self.seed}-{i}", p.text) for i, p in enumerate(prompts)]
        return LoadedPrompts(items=items, skipped={})


def _as_str_list(subset: str | Sequence[str]) -> list[str]:
    # Hydra passes lists as ListConfig, which is a Sequence too.
    return [subset] if isinstance(subset, str) else [str(s) for s in subset]
