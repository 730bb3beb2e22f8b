"""Hydra's job folder is the run folder: ``run.log``, ``.hydra/`` and DDP children's logs land in
``paths.output_dir``, and a run that fails before writing anything leaves no folder behind.

``hydra.run.dir`` (``conf/hydra/default.yaml``) is ``${entrgi_job_dir:'<dated default>'}``: the
resolver returns ``paths.output_dir`` when a user set it (command line, experiment file), else the
dated default, which ``paths.output_dir`` (``${hydra:runtime.output_dir}``) then follows. Lightning's
DDP children get the parent's resolved ``hydra.run.dir`` on their command line, so their
``train_ddp_process_<r>.log`` lands there too. In a multirun, each job's folder is the sweep's
``<sweep dir>/<job num>`` as before. :func:`register` must run before Hydra composes
(``entrgi.run`` calls it at import).

:func:`discard_if_empty` removes a job folder that holds nothing but Hydra's own files (``.hydra/``
and the job log): what a run refused before its first write leaves.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from entrgi.outputs.files import LOCK, LOCK_HOLDER

RESOLVER = "entrgi_job_dir"
DEFAULT_OUTPUT_DIR = "${hydra:runtime.output_dir}"  # conf/paths/default.yaml
HYDRA_FILES = (".hydra", LOCK, LOCK_HOLDER)  # besides the job logs (*.log); the run lock is released by then


def register() -> None:
    """Register the ``entrgi_job_dir`` resolver (idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, _job_dir)


def _job_dir(default: str, *, _root_: DictConfig) -> str:
    paths = _root_.get("paths")
    if not isinstance(paths, DictConfig) or "output_dir" not in paths:
        return default
    raw = OmegaConf.to_container(paths, resolve=False)["output_dir"]
    if raw is None or raw == DEFAULT_OUTPUT_DIR:
        return default
    return str(paths.output_dir)


def only_hydra_files(folder: Path) -> bool:
    """``folder`` exists and holds only Hydra's files (``.hydra/``, ``*.log`` job logs) and the run lock."""
    if not folder.is_dir():
        return False
    return all(p.name in HYDRA_FILES or (p.is_file() and p.suffix == ".log") for p in folder.iterdir())


def discard_if_empty(folder: Path | str, stop_at: Path | str | None = None) -> bool:
    """Remove ``folder`` if it holds only Hydra's files (closing the log handlers writing there), then
    its parents that became empty, up to ``stop_at`` (excluded). True when removed."""
    folder = Path(folder).resolve()
    if not only_hydra_files(folder):
        return False
    for handler in list(logging.getLogger().handlers):
        name = getattr(handler, "baseFilename", None)
        if name and Path(name).resolve().parent == folder:
            handler.close()
            logging.getLogger().removeHandler(handler)
    shutil.rmtree(folder, ignore_errors=True)
    stop = Path(stop_at).resolve() if stop_at is not None else None
    parent = folder.parent
    while stop is not None and parent != stop and stop in parent.parents and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
    return not folder.exists()
