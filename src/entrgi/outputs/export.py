"""Guided completions as JSON Lines for TRL's SFT trainer (``python -m entrgi.export``).

Every run folder under the given root (itself included) is read: its ``generations.jsonl``
(``python -m entrgi.run``) and its ``train_samples/`` (``python -m entrgi.posttrain``). Each row is
TRL's conversational prompt-completion format plus where it came from::

    {"prompt": [{"role": "system", ...}, {"role": "user", ...}],
     "completion": [{"role": "assistant", "content": ...}],
     "reward": 0.83, "sample_id": ..., "run": "seed=1", "method": "entrgi", "seed": 1}

``run`` is the run folder relative to the root (``.`` for the root itself). Post-training rows have
``method`` ``posttrain`` and add ``step``. Mode ``best``: one row per prompt, the response the guidance
reward ranks first (the first of equal maxima, as ``best_index``); mode ``all``: one row per trajectory,
adding ``k`` (its index among the K) and ``rank`` (0 = the highest reward). A response whose reward is
not finite is never exported: it is counted in :attr:`Export.skipped` (in ``best`` mode, the prompts
none of whose rewards is finite).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from entrgi.engine.types import PromptItem
from entrgi.outputs import jsonl
from entrgi.outputs.files import EXPORT, EXPORT_ALL, GENERATIONS, TRAIN_SAMPLES, RunFolder, find_run_folders
from entrgi.outputs.generations import read_generations
from entrgi.outputs.posttrain import read_samples

BEST, ALL = "best", "all"
MODES = (BEST, ALL)
FILE_NAMES = {BEST: EXPORT, ALL: EXPORT_ALL}
POSTTRAIN_METHOD = "posttrain"
# What a generations.jsonl record must hold to be exported.
EXPORTED_FIELDS = ("sample_id", "prompt", "responses", "rewards")


class ExportError(ValueError):
    """Nothing to export under a folder; the message names it and what to do."""


@dataclass
class Export:
    """The rows of an export, the responses left out for a non-finite reward, the folders read."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    folders: list[Path] = field(default_factory=list)


def default_path(root: Path | str, mode: str = BEST) -> Path:
    """Where an export of ``root`` goes unless told: ``root/export.jsonl`` (``all``: ``export_all.jsonl``)."""
    return Path(root) / FILE_NAMES[_checked(mode)]


def _checked(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"export mode {mode!r} is not one of {MODES}")
    return mode


def _record_messages(rec: dict[str, Any]) -> list[dict[str, str]]:
    """The chat a record answered (``PromptItem.messages``, as ``entrgi.judges.record_messages``; the judges
    package is not imported: it loads torch and transformers, which an export does not need)."""
    return PromptItem(rec.get("sample_id", ""), rec["prompt"], rec.get("system")).messages()


def _reward(x: Any) -> float | None:
    """A reward as a float, or None when it is not a finite number (null, NaN, inf)."""
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def _trajectory_rows(
    messages: list[dict[str, str]], responses: list[str], rewards: list, meta: dict[str, Any], mode: str, where: str
) -> tuple[list[dict[str, Any]], int]:
    """One prompt's rows (best first) and how many it left out for a non-finite reward."""
    if len(responses) != len(rewards):
        raise ExportError(
            f"{where}: {len(responses)} responses but {len(rewards)} rewards; the file is damaged, regenerate the run"
        )
    scores = [_reward(r) for r in rewards]
    ranked = sorted((k for k, s in enumerate(scores) if s is not None), key=lambda k: -scores[k])  # stable
    skipped = len(scores) - len(ranked)
    if mode == BEST:
        ranked, skipped = ranked[:1], int(not ranked)
    rows = []
    for rank, k in enumerate(ranked):
        row = {
            "prompt": messages,
            "completion": [{"role": "assistant", "content": responses[k]}],
            "reward": scores[k],
            **meta,
        }
        if mode == ALL:
            row |= {"k": k, "rank": rank}
        rows.append(row)
    return rows, skipped


def _generation_rows(folder: Path, run: str, mode: str, out: Export) -> None:
    path = RunFolder(folder).generations
    for rec in read_generations(folder, EXPORTED_FIELDS):
        meta = {"sample_id": rec["sample_id"], "run": run, "method": rec.get("method"), "seed": rec.get("seed")}
        where = f"{path} sample {rec['sample_id']!r}"
        rows, skipped = _trajectory_rows(_record_messages(rec), rec["responses"], rec["rewards"], meta, mode, where)
        out.rows += rows
        out.skipped += skipped


def _train_sample_rows(folder: Path, run: str, mode: str, out: Export) -> None:
    for row in read_samples(folder):
        meta = {
            "sample_id": row["sample_id"],
            "run": run,
            "method": POSTTRAIN_METHOD,
            "seed": row.get("seed"),
            "step": row["step"],
        }
        where = f"{folder / TRAIN_SAMPLES} step {row['step']} sample {row['sample_id']!r}"
        rows, skipped = _trajectory_rows(row["messages"], row["responses"], row["rewards"], meta, mode, where)
        out.rows += rows
        out.skipped += skipped


def export_rows(root: Path | str, mode: str = BEST) -> Export:
    """The export rows of every run folder under ``root`` (itself included), in folder order: a folder's
    generations, then its post-training samples (by step, then sample id)."""
    root, mode = Path(root), _checked(mode)
    if not root.is_dir():
        raise ExportError(f"{root} is not a folder: give a run folder (paths.output_dir) or a sweep folder")
    generations = set(find_run_folders(root, GENERATIONS))
    training = {p for p in find_run_folders(root, TRAIN_SAMPLES) if RunFolder(p).train_sample_files()}
    if not generations and not training:
        raise ExportError(
            f"{root} holds no {GENERATIONS} and no {TRAIN_SAMPLES}/ (nor does any folder under it): give the "
            "folder of a finished run (python -m entrgi.run or python -m entrgi.posttrain) or a sweep of them"
        )
    out = Export()
    for folder in sorted(generations | training):
        run = folder.relative_to(root).as_posix()
        if folder in generations:
            _generation_rows(folder, run, mode, out)
        if folder in training:
            _train_sample_rows(folder, run, mode, out)
        out.folders.append(folder)
    return out


def write_export(root: Path | str, path: Path | str | None = None, mode: str = BEST) -> tuple[Path, Export]:
    """Export ``root`` (:func:`export_rows`) to ``path`` (default :func:`default_path`), atomically."""
    export = export_rows(root, mode)
    path = default_path(root, mode) if path is None else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    jsonl.write(path, export.rows)
    return path, export
