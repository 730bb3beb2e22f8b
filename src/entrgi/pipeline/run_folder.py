"""The job lifecycle's folder phases, shared by ``entrgi.run``, ``entrgi.posttrain`` and ``entrgi.probe``: the
folder a job holds, locked, checked before any model loads, and recorded.

``open_job`` is every job's second phase (after its config check): global rank 0 locks the folder for the
whole job (``outputs/lock.py``: one job per folder), a fresh job refuses a folder with results or moves them
aside with ``overwrite=true`` (``outputs/guard.py``), and ``resume=true`` runs the job's own resume hook (a run:
``resume.prepare_resume``, its settings checked by ``resume.RUN_RESUME``; post-training: its settings by
``resume.POSTTRAIN_RESUME`` and its checkpoint). ``record_run`` writes the resolved config and the run info
(git commit, torch, the method, Hydra's choices), with the W&B run id that a resumed job continues. Each job
adds only its own phases; the clean stop on signals is ``preempt.StopSignals`` with the job's callback
(``callbacks/stop.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from entrgi.outputs.generations import clear_results
from entrgi.outputs.guard import check_fresh
from entrgi.outputs.lock import RunLock
from entrgi.outputs.provenance import git_commit
from entrgi.outputs.settings import read_run_info, write_config, write_run_info
from entrgi.pipeline.resume import prepare_resume


@contextmanager
def open_job(
    cfg: DictConfig,
    output_dir: Path | str | None = None,
    *,
    on_resume: Callable[[Path, DictConfig], None] | None = None,
) -> Iterator[Path]:
    """The job's folder (``paths.output_dir`` unless given), held by this job and checked (see the module
    docstring); ``on_resume(folder, cfg)`` runs on rank 0 under the lock when ``resume=true``."""
    output_dir = Path(output_dir if output_dir is not None else cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if rank_zero_only.rank != 0:  # DDP ranks write into the folder their rank 0 holds
        yield output_dir
        return
    with RunLock(output_dir):
        resume = bool(cfg.get("resume", False))
        check_fresh(output_dir, resume=resume, overwrite=bool(cfg.get("overwrite", False)))
        if resume and on_resume is not None:
            on_resume(output_dir, cfg)
        yield output_dir


def open_output(cfg: DictConfig) -> AbstractContextManager[Path]:
    """``entrgi.run``'s folder: :func:`open_job` with the run's resume (``resume.prepare_resume``)."""
    return open_job(cfg, on_resume=prepare_resume)


def record_run(cfg: DictConfig, output_dir: Path, method: str) -> str | None:
    """On rank 0: the resolved config and the run info (git commit, torch, the W&B run id); a fresh
    run clears old results. Returns the W&B run id (None without W&B, and on other ranks)."""
    if rank_zero_only.rank != 0:
        return None
    wandb_id = wandb_run_id(cfg, output_dir)
    if not cfg.get("resume", False):  # a fresh run owns its folder's results
        clear_results(output_dir)
    write_config(output_dir, OmegaConf.to_yaml(cfg, resolve=True))
    info = git_commit() | {"torch": torch.__version__, "method": method} | hydra_choices()
    write_run_info(output_dir, info | ({"wandb_run_id": wandb_id} if wandb_id else {}))
    return wandb_id


def hydra_choices() -> dict:
    """``{"choices": {group: option}}`` of the command line's composition (the report labels groups by them);
    {} outside Hydra (a run started from Python)."""
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {"choices": {k: v for k, v in choices.items() if v is not None and not k.startswith("hydra")}}


def wandb_run_id(cfg: DictConfig, output_dir: Path) -> str | None:
    """``logger.id`` if set; with ``resume=true`` the id the folder's run_info.json recorded; else a new one."""
    if not cfg.get("logger") or "_target_" not in cfg.logger:
        return None
    if cfg.logger.get("id"):
        return str(cfg.logger.id)
    saved = read_run_info(output_dir).get("wandb_run_id") if cfg.resume else None
    return saved or uuid.uuid4().hex[:12]
