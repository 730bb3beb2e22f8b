"""One guided-denoising job as a sequence of phases: check, open the output folder (locked, guarded:
``run_folder.py``), load prompts, build, predict (stopping cleanly on SIGTERM: ``preempt.py``),
summarize over every segment of the run (``outputs/costs.py``), log (``tracking.py``).

``run(cfg)`` is what ``python -m entrgi.run`` calls; tests and notebooks call it directly with a
config composed by ``hydra.compose`` (set ``paths.output_dir`` there). Everything up to
``load_prompts`` loads no model, so a bad config or bad data fails in seconds.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from entrgi.data.dataset import PromptDataset, collate_prompts, filter_done
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import Guidance
from entrgi.engine.models.base import DiffusionLM
from entrgi.engine.models.reward_base import RewardModel
from entrgi.engine.models.usage import matmul_params
from entrgi.engine.types import PromptItem
from entrgi.outputs.compute import compute_summary
from entrgi.outputs.costs import append_segment, load_average, read_segments, totals
from entrgi.outputs.generations import (
    done_sample_ids,
    drop_rank_stats,
    merge_shards,
    read_generations,
)
from entrgi.outputs.identity import run_identity
from entrgi.outputs.metrics import Generated, RunSetup, run_metrics, write_metrics
from entrgi.pipeline.builders import build_denoiser, build_judge, drop_too_long, load_models
from entrgi.pipeline.callbacks.progress import PromptProgressBar
from entrgi.pipeline.callbacks.stop import StopAfterBatch
from entrgi.pipeline.callbacks.wandb_stream import batch_logger
from entrgi.pipeline.callbacks.writer import JsonlPredictionWriter
from entrgi.pipeline.console import print_summary
from entrgi.pipeline.module import GuidedDenoisingModule
from entrgi.pipeline.preempt import RunStopped, StopSignals, slurm_requeued
from entrgi.pipeline.preflight import check_config, model_devices
from entrgi.pipeline.run_folder import open_output, record_run
from entrgi.pipeline.tracking import build_logger, finish_wandb, log_run

log = logging.getLogger(__name__)


@dataclass
class Prompts:
    """The prompts of one run, known before any model loads."""

    items: list[PromptItem]
    skipped: dict[str, int]  # reason -> rows the source left out
    order: dict[str, int]  # sample_id -> position in generations.jsonl


@dataclass(frozen=True, kw_only=True)
class Built:
    """The models and what drives them, for this rank."""

    lm: DiffusionLM
    reward: RewardModel
    denoiser: GuidedDenoiser
    module: GuidedDenoisingModule
    setup: RunSetup  # the run's identity, guidance name, seed, K and skips (the source's plus too long)
    logger: Logger | None  # None for logger=none
    writer: JsonlPredictionWriter
    trainer: Trainer
    todo: list[PromptItem]  # the prompts to generate (resume=true leaves out those already written)
    resumed: int  # prompts an interrupted run already wrote


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run one guided-denoising job; returns metrics on global rank 0 (an empty dict elsewhere).

    A SIGTERM / SIGUSR1 / Ctrl-C ends it once the batch in flight is written, raising
    ``preempt.RunStopped`` (a ``SystemExit``, code 128 + the signal) whose message says how to resume."""
    start, started_at, load_start = time.perf_counter(), time.time(), load_average()
    check_config(cfg)
    schedule = instantiate(cfg.schedule)  # these constructors validate their values
    guidance = instantiate(cfg.guidance)
    if slurm_requeued() and not cfg.resume:
        log.info("a requeued SLURM job (SLURM_RESTART_COUNT=%s): resuming", os.environ.get("SLURM_RESTART_COUNT"))
        cfg.resume = True
    with open_output(cfg) as output_dir:
        prompts = load_prompts(cfg)
        if not prompts.items:
            return _nothing_to_run(cfg, output_dir, prompts.skipped, guidance)
        wandb_id = record_run(cfg, output_dir, guidance.method)
        signals = StopSignals()
        started = (started_at, load_start)
        built = build(cfg, schedule, guidance, prompts, output_dir, signals=signals, wandb_id=wandb_id, started=started)
        summary, stopped = None, None
        try:
            with signals:
                predict(built, prompts.order, output_dir, cfg.data.batch_size)
            if not built.trainer.is_global_zero:
                return {}
            records, metrics = summarize(built, prompts.order, output_dir, start, load_start)
            log_run(cfg, built.logger, records, metrics)
            summary = (metrics, records)
            return metrics
        except RunStopped as err:
            stopped = err
            if built.trainer.is_global_zero:
                log.warning("%s", err)
            raise
        finally:
            if built.logger is not None:
                finish_wandb(stopped)
            if summary is not None:  # last, after W&B's own end-of-run lines
                print_summary(*summary, output_dir)


def load_prompts(cfg: DictConfig) -> Prompts:
    """``data.source`` instantiated as it is, and loaded."""
    loaded = instantiate(cfg.data.source).load()
    return Prompts(loaded.items, dict(loaded.skipped), {it.sample_id: i for i, it in enumerate(loaded.items)})


def build(
    cfg: DictConfig,
    schedule,
    guidance,
    prompts: Prompts,
    output_dir: Path,
    *,
    signals: StopSignals | None = None,
    wandb_id: str | None = None,
    started: tuple[float, float | None] | None = None,
) -> Built:
    """Load the dLLM and the reward onto this rank's devices, drop prompts too long for the dLLM, and
    build the denoiser, the module, the judge, the logger, the writer and the trainer."""
    done = done_sample_ids(output_dir) if cfg.resume else set()
    devices = model_devices(cfg)  # validated in check_config, before any weights load
    log.info(
        "loading the dLLM onto %s and the reward model onto %s",
        devices.get("model", "its configured device"),
        devices.get("reward", "its configured device"),
    )
    lm, reward = load_models(cfg, devices)
    items, too_long = drop_too_long(prompts.items, lm, schedule.max_new_tokens, cfg.data.get("on_invalid", "skip"))
    skipped = prompts.skipped | ({"too_long": too_long} if too_long else {})
    todo = filter_done(items, done)
    log.info(
        "%d prompts (%d already done, %d skipped) x K=%d with %s",
        len(todo),
        len(items) - len(todo),
        sum(skipped.values()),
        cfg.samples_per_prompt,
        guidance.name,
    )
    denoiser = build_denoiser(cfg, lm, reward, guidance, schedule)
    config = OmegaConf.to_container(cfg, resolve=True)
    module = GuidedDenoisingModule(denoiser, config=config)
    setup = run_setup(cfg, guidance, skipped)
    logger = build_logger(cfg, wandb_id)
    writer = JsonlPredictionWriter(
        output_dir=output_dir,
        method=guidance.method,
        seed=cfg.seed,
        order=prompts.order,
        save_entropy_maps=cfg.save_entropy_maps,
        judge=build_judge(cfg, devices),
        identity=setup.identity,
        stream=partial(batch_logger, prompts_total=len(todo)) if logger is not None else None,
        started_at=started[0] if started else None,
        load_avg_start=started[1] if started else load_average(),
    )
    callbacks = [writer, PromptProgressBar(len(todo))]
    if signals is not None:  # after the writer: a stop comes once the batch is written
        callbacks.append(StopAfterBatch(signals, writer, len(todo)))
    trainer = instantiate(cfg.trainer, logger=logger if logger is not None else False, callbacks=callbacks)
    return Built(
        lm=lm,
        reward=reward,
        denoiser=denoiser,
        module=module,
        setup=setup,
        logger=logger,
        writer=writer,
        trainer=trainer,
        todo=todo,
        resumed=len(items) - len(todo),
    )


def run_setup(cfg: DictConfig, guidance: Guidance, skipped: dict[str, int]) -> RunSetup:
    """What metrics.json says the run is: its identity (from the resolved config), guidance, seed, K, skips."""
    identity = run_identity(OmegaConf.to_container(cfg, resolve=True), guidance.method)
    return RunSetup(
        identity=identity,
        guidance=guidance.name,
        seed=cfg.seed,
        samples_per_prompt=cfg.samples_per_prompt,
        skipped=skipped,
    )


def predict(built: Built, order: dict[str, int], output_dir: Path, batch_size: int) -> None:
    """Generate the prompts still to do on every rank; the writer merges the shards on rank 0."""
    if built.todo:
        loader = DataLoader(PromptDataset(built.todo), batch_size=batch_size, shuffle=False, collate_fn=collate_prompts)
        built.trainer.predict(built.module, loader, return_predictions=False)
    elif built.trainer.is_global_zero:  # all done: merge what an interrupted run left in its shards
        merge_shards(output_dir, order)
        built.writer.merged_stats = None


def summarize(
    built: Built, order: dict[str, int], output_dir: Path, start: float, load_start: float | None = None
) -> tuple[list[dict], dict[str, Any]]:
    """On rank 0: this invocation's segment recorded (when it generated), then the run's records (in
    data order) and its metrics over every segment, written to metrics.json."""
    records = [r for r in read_generations(output_dir) if r["sample_id"] in order]
    if built.writer.merged_stats is not None:  # this invocation generated: one more segment
        segment = built.writer.merged_stats | {
            "ended": "finished",
            "total_wall_s": time.perf_counter() - start,
            "load_avg_start": load_start,
            "load_avg_end": load_average(),
        }
        append_segment(output_dir, segment)
    drop_rank_stats(output_dir)
    segments = read_segments(output_dir)
    stats = totals(segments)
    params = matmul_params(built.lm.model), matmul_params(built.reward.model)  # dLLM, reward
    bridge = built.denoiser.bridge
    prompts = stats.get("prompts", 0)
    generated = Generated(
        records=records,
        stats=stats,
        total_wall_s=stats.get("total_wall_s") or 0.0,
        compute=compute_summary(stats, *params, prompts),
        world_size=built.trainer.world_size,
        resumed_prompts=prompts - int(segments[-1].get("prompts") or 0) if segments else 0,
        vocab_coverage=None if bridge is None else bridge.coverage.as_dict(),
    )
    metrics = run_metrics(built.setup, generated)
    write_metrics(output_dir, metrics)
    return records, metrics


def _nothing_to_run(cfg: DictConfig, output_dir: Path, skipped: dict[str, int], guidance: Guidance) -> dict[str, Any]:
    """No prompt survived loading: say so, write metrics.json (rank 0) and load no model."""
    log.warning(
        "nothing to run: the data gave no valid prompt (skipped: %s); see data.path / data.on_invalid",
        skipped or "none",
    )
    metrics = run_metrics(run_setup(cfg, guidance, skipped))
    if rank_zero_only.rank == 0:
        write_metrics(output_dir, metrics)
    return metrics
