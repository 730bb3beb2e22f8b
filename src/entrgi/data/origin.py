"""Where a prompt source's rows come from: a local data file, a local dataset folder or a hub dataset id.

``data.path`` decides (:func:`is_local`): a path that exists, or that is written as one (a
``.jsonl`` / ``.json`` / ``.parquet`` name, or one starting with ``/``, ``./`` or ``../``), is
local; anything else is a hub id. A single file is loaded as the split ``split``; a folder of
Parquet / JSONL / Arrow files whose names carry the split (as on the hub) and a hub id go through
``datasets.load_dataset(path, name, split=split)``. Errors name the key to change.
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets

from entrgi.data.jsonl import EmptyPromptFile, check_jsonl

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet"}  # suffix -> datasets builder
_PATH_PREFIXES = ("/", "./", "../", ".\\", "..\\")


def is_local(path: str) -> bool:
    """True for a local file or folder (existing or written as a path), False for a hub dataset id."""
    return (
        os.path.exists(path)
        or os.path.isabs(path)
        or path.startswith(_PATH_PREFIXES)
        or Path(path).suffix.lower() in FILE_BUILDERS
    )


def check_local_file(path: str) -> None:
    """An existing file must be in one of the formats read here (checked before anything loads)."""
    if os.path.isfile(path) and Path(path).suffix.lower() not in FILE_BUILDERS:
        raise ValueError(
            f"data.path={path!r} is not a .jsonl, .json or .parquet file; convert it to one of these formats."
        )


def require_exists(path: str) -> None:
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"data.path={path!r} does not exist (resolved to {os.path.abspath(path)!r}); point data.path to a "
            "local prompt file or dataset folder."
        )


def short_name(path: str) -> str:
    """``THU-KEG/RM-Bench`` -> ``RM-Bench``; ``/x/prompts.jsonl`` -> ``prompts``."""
    p = Path(path.rstrip("/\\"))
    return p.stem if p.suffix.lower() in FILE_BUILDERS else p.name


def checked_path(path: str, prompt_field: str, on_invalid: str) -> str | None:
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


def load_split(path: str, name: str | None, split: str) -> datasets.Dataset:
    """One split of a hub dataset, a local dataset folder or a single data file."""
    suffix = Path(path).suffix.lower()
    try:
        if os.path.isfile(path) and suffix in FILE_BUILDERS:
            return datasets.load_dataset(FILE_BUILDERS[suffix], data_files={split: path}, split=split)
        return datasets.load_dataset(path, name, split=split)
    except ValueError as err:
        if "split" not in str(err).lower():
            raise
        raise ValueError(
            f"data.source.split={split!r} is not a split of data.path={path!r}; set data.source.split to "
            f"one of the dataset's splits. ({err})"
        ) from err
    except (ConnectionError, FileNotFoundError) as err:
        error = FileNotFoundError if isinstance(err, FileNotFoundError) else ConnectionError
        raise error(
            f"could not load data.path={path!r} (split {split!r}); check the hub id, or "
            "download the dataset where there is network and set data.path to its local "
            f"directory. ({err})"
        ) from err
