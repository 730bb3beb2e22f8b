"""The run's W&B logger (``logger`` group): built to create or continue one W&B run per run folder,
fed the config, metrics and generations at the end, and finished (marked preempted on a stop)."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from entrgi.outputs.provenance import git_commit
from entrgi.pipeline.preempt import RunStopped


def build_logger(cfg: DictConfig, wandb_id: str | None = None):
    """The ``logger`` group's logger, or None for ``logger=none``; ``wandb_id`` (rank 0): the W&B run
    to create or continue (``resume="allow"``), so a resumed run is the same W&B run."""
    if not cfg.get("logger") or "_target_" not in cfg.logger:
        return None
    return instantiate(cfg.logger, **({"id": wandb_id, "resume": "allow"} if wandb_id else {}))


def log_run(cfg: DictConfig, logger, records: list[dict], metrics: dict[str, Any]) -> None:
    """End-of-run W&B: the config (with the git commit), the metrics and the generations table."""
    if logger is None:
        return
    from entrgi.pipeline.callbacks.wandb_logging import log_run as log_to_wandb

    logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True) | git_commit())
    log_to_wandb(logger.experiment, records, metrics)


def finish_wandb(stopped: RunStopped | None) -> None:
    """End the W&B run: a stopped run is marked preempting and ends with its exit code (resume continues it)."""
    import wandb

    if stopped is not None and wandb.run is not None:
        wandb.run.mark_preempting()
    wandb.finish(exit_code=None if stopped is None else int(stopped.code))
