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

import hashlib
import logging
import os
import random
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
    """Prompts in the project's synthetic testbed language (no downloads, any size).

    ``split``: ``all`` (every prompt of the grammar, sampled as the language samples them), or
    ``train`` / ``heldout``, two disjoint sets (a prompt is held out when a stable hash of its text
    is 0 mod 4: 46 of the 147 prompts), each shuffled by ``seed`` and cycled; post-training trains on
    the first and evaluates on the second.
    """

    __test__ = False  # not a pytest test class despite the name
    SPLITS = ("all", "train", "heldout")

    def __init__(self, limit: int = 64, seed: int = 0, split: str = "all") -> None:
        require_positive(limit, "data.limit")
        require_integer(seed, "data.source.seed")
        if split not in self.SPLITS:
            raise ValueError(f"data.source.split={split!r}; choose one of {list(self.SPLITS)}")
        self.limit = limit
        self.seed = seed
        self.split = split

    def load(self) -> LoadedPrompts:
        if self.split == "all":
            from entrgi.testbed.language import sample_prompts

            prompts = [p.text for p in sample_prompts(self.limit, self.seed)]
            items = [PromptItem(f"testbed-{self.seed}-{i}", p) for i, p in enumerate(prompts)]
        else:
            prompts = split_prompts(self.split, self.limit, self.seed)
            items = [PromptItem(f"testbed-{self.split}-{self.seed}-{i}", p) for i, p in enumerate(prompts)]
        return LoadedPrompts(items=items, skipped={})


def is_heldout(text: str) -> bool:
    """The testbed prompts post-training never trains on (a stable hash of the text, 0 mod 4)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest(), "little") % 4 == 0


def split_prompts(split: str, n: int, seed: int) -> list[str]:
    """``n`` prompt texts of one split, shuffled by ``seed``, cycling through the split when n exceeds it."""
    from entrgi.testbed.language import default_grammar

    heldout = split == "heldout"
    pool = sorted(p.text for p in default_grammar().all_prompts() if is_heldout(p.text) == heldout)
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        rnd = pool[:]
        rng.shuffle(rnd)
        out += rnd[: n - len(out)]
    return out


def _as_str_list(subset: str | Sequence[str]) -> list[str]:
    # Hydra passes lists as ListConfig, which is a Sequence too.
    return [subset] if isinstance(subset, str) else [str(s) for s in subset]
