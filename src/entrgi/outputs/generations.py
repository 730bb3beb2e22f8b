"""A run folder's records: ``shards/rank{R}.jsonl`` as batches finish, merged into ``generations.jsonl``.

Each rank appends its finished batches to its own shard (fsynced); when predict ends, rank 0 merges
the shards and any earlier ``generations.jsonl`` (a resumed run) into one file keyed by sample_id,
in dataset order, replacing it atomically, and removes the shards. ``resume=true`` counts a sample
as done once its line is complete in either place (``outputs/jsonl.py`` for the torn-line policy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from entrgi.outputs import jsonl
from entrgi.outputs.atomic import TMP_SUFFIX, write_json
from entrgi.outputs.files import RunFolder

SAMPLE_ID = "sample_id"
# What every reader of generations.jsonl needs (the re-judge needs more: rejudge.JUDGED_FIELDS).
REQUIRED = (SAMPLE_ID,)


def read_generations(folder: Path | str, required: tuple[str, ...] = REQUIRED) -> list[dict]:
    """The records of ``folder``'s ``generations.jsonl`` (none if it does not exist)."""
    return jsonl.read_records(RunFolder(folder).generations, required)


def write_generations(folder: Path | str, records: list[dict]) -> None:
    """Replace ``folder``'s ``generations.jsonl`` with ``records``, atomically."""
    jsonl.write(RunFolder(folder).generations, records)


def done_sample_ids(folder: Path | str) -> set[str]:
    """sample_ids already written in ``folder`` (merged file and shards, complete lines), for resume."""
    run = RunFolder(folder)
    paths = [run.generations, *run.shard_files()]
    return {r[SAMPLE_ID] for p in paths for r in jsonl.read_records(p, REQUIRED)}


def merge_shards(folder: Path | str, order: dict[str, int]) -> None:
    """Merge the shards into ``generations.jsonl`` (its records kept first), one line per sample_id in
    dataset ``order``, lines copied byte for byte; the file is replaced atomically, then the shards removed."""
    run = RunFolder(folder)
    jsonl.merge(run.generations, run.shard_files(), order, key=SAMPLE_ID)
    for shard in run.shard_files():
        shard.unlink()


def open_shard(folder: Path | str, rank: int) -> Path:
    """Rank ``rank``'s shard, its folder made and a torn last line cut off, ready for :func:`append_records`."""
    shard = RunFolder(folder).shard(rank)
    shard.parent.mkdir(parents=True, exist_ok=True)
    jsonl.repair(shard)
    return shard


def append_records(folder: Path | str, rank: int, records: list[dict]) -> None:
    jsonl.append(RunFolder(folder).shard(rank), records)


def repair_shards(folder: Path | str) -> None:
    """Cut torn last lines off every shard (so appends start on a fresh line)."""
    for shard in RunFolder(folder).shard_files():
        jsonl.repair(shard)


def clear_results(folder: Path | str) -> None:
    """A fresh run owns its folder's results: remove ``generations.jsonl``, the shards and ``segments.json``
    (``outputs/guard.py`` has refused a folder holding records already)."""
    run = RunFolder(folder)
    run.generations.unlink(missing_ok=True)
    run.segments.unlink(missing_ok=True)
    for shard in run.shards.glob("rank*"):
        shard.unlink()


def write_rank_stats(folder: Path | str, rank: int, stats: dict[str, Any]) -> None:
    write_json(RunFolder(folder).rank_stats(rank), stats)


def read_rank_stats(folder: Path | str) -> list[dict[str, Any]]:
    """Every rank's stats, by rank file name."""
    return [json.loads(p.read_text()) for p in RunFolder(folder).rank_stats_files()]


def drop_rank_stats(folder: Path | str) -> None:
    """Remove the per-rank stats (merged, or stale from an interrupted run), and the temp file of a
    stats write a kill cut short."""
    run = RunFolder(folder)
    for stats in run.rank_stats_files():
        stats.unlink()
    for tmp in run.shards.glob(f".*{TMP_SUFFIX}"):
        tmp.unlink()
