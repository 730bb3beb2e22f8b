"""A post-training run's files (``python -m entrgi.posttrain``): its step history, the completions it
trained on, its summary. Names in ``files.py``; a resumed run drops what came after its checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from entrgi.outputs import jsonl
from entrgi.outputs.atomic import write_json
from entrgi.outputs.files import RunFolder


def append_history(folder: Path | str, rows: list[dict[str, Any]]) -> None:
    """Rows of ``train_history.jsonl`` (``kind``: ``step`` or ``eval``), appended and fsynced."""
    jsonl.append(RunFolder(folder).train_history, rows)


def read_history(folder: Path | str) -> list[dict[str, Any]]:
    path = RunFolder(folder).train_history
    return jsonl.read_records(path) if path.is_file() else []


def append_samples(folder: Path | str, rank: int, rows: list[dict[str, Any]]) -> None:
    """One row per prompt of a step: its K completions, rewards and loss weights (rank R's shard)."""
    path = RunFolder(folder).train_samples(rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    jsonl.append(path, rows)


def read_samples(folder: Path | str) -> list[dict[str, Any]]:
    """Every rank's training completions, by step then sample id."""
    rows = [r for path in RunFolder(folder).train_sample_files() for r in jsonl.read_records(path)]
    return sorted(rows, key=lambda r: (r["step"], r["sample_id"]))


def truncate_after(folder: Path | str, step: int) -> None:
    """Drop history and sample rows of steps >= ``step`` (what a run did after the checkpoint it resumes
    from; they are done again, evaluations included)."""
    run = RunFolder(folder)
    if run.train_history.is_file():
        jsonl.write(run.train_history, [r for r in jsonl.read_records(run.train_history) if r["step"] < step])
    for path in run.train_sample_files():
        jsonl.write(path, [r for r in jsonl.read_records(path) if r["step"] < step])


def write_summary(folder: Path | str, summary: dict[str, Any]) -> None:
    write_json(RunFolder(folder).posttrain, summary)
