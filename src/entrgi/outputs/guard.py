"""A run folder is never overwritten by accident.

A run without ``resume=true`` into a folder that already holds results (records in
``generations.jsonl`` or the shards, a ``metrics.json``, or a post-training run's history, checkpoints,
adapter or summary) is refused before any model loads,
naming the folder and the three ways on. ``overwrite=true`` moves the folder's earlier contents
into ``overwritten/<time>/`` (never deleting them) and starts afresh; Hydra's own files (``.hydra/``,
the job logs, which the new run is already writing) and the run lock stay where they are.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from entrgi.outputs.files import LOCK, LOCK_HOLDER, OVERWRITTEN, RunFolder
from entrgi.outputs.generations import done_sample_ids

log = logging.getLogger(__name__)

STAYS = (".hydra", LOCK, LOCK_HOLDER, OVERWRITTEN)  # besides *.log


class FolderHasResults(ValueError):
    """A fresh run was pointed at a folder holding another run's results."""


def _posttrain_results(run: RunFolder) -> list[str]:
    """The files of a post-training run (``python -m entrgi.posttrain``) or a probe (``python -m entrgi.probe``)
    that ``run`` holds."""
    kept = (run.train_history, run.checkpoints, run.adapter, run.posttrain, run.probe_report)
    return [p.name for p in kept if p.exists()]


def holds_results(folder: Path | str) -> bool:
    run = RunFolder(folder)
    return run.metrics.exists() or bool(done_sample_ids(run.root)) or bool(_posttrain_results(run))


def _movable(path: Path) -> bool:
    return path.name not in STAYS and not (path.is_file() and path.suffix == ".log")


def move_aside(folder: Path | str) -> Path:
    """Move ``folder``'s contents but Hydra's files and the lock into ``overwritten/<time>/``; returns it."""
    run = RunFolder(folder)
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
    target, n = run.overwritten / stamp, 1
    while target.exists():
        n += 1
        target = run.overwritten / f"{stamp}-{n}"
    target.mkdir(parents=True)
    for path in sorted(run.root.iterdir()):
        if _movable(path):
            shutil.move(str(path), str(target / path.name))
    return target


def check_fresh(folder: Path | str, *, resume: bool, overwrite: bool) -> Path | None:
    """Refuse a fresh run into a folder with results (:class:`FolderHasResults`), or with ``overwrite``
    move them aside (returns where). ``resume``: nothing to check here (``pipeline/resume.py`` does)."""
    run = RunFolder(folder)
    if resume or not holds_results(run.root):
        return None
    if overwrite:
        moved = move_aside(run.root)
        log.warning("overwrite=true: the earlier contents of %s moved to %s", run.root, moved)
        return moved
    done = len(done_sample_ids(run.root))
    posttrain = "".join(f", {name}" for name in _posttrain_results(run))
    raise FolderHasResults(
        f"paths.output_dir={run.root} already holds the results of a run ({done} prompts written"
        f"{', metrics.json' if run.metrics.exists() else ''}{posttrain}); a new run would replace them. Either "
        "pass resume=true to continue that run (same settings), "
        "or pass another paths.output_dir, "
        f"or pass overwrite=true to start afresh here (the earlier contents move to {run.overwritten}/<time>/, "
        "nothing is deleted)."
    )
