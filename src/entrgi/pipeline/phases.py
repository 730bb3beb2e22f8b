"""One guided-denoising job as a sequence of phases: check, prepare the output, load prompts, build,
predict, summarize, log.

``run(cfg)`` is what ``python -m entrgi.run`` calls; tests and notebooks call it directly with a
config composed by ``hydra.compose`` (set ``paths.output_dir`` there). Everything up to
``load_prompts`` loads no model, so a bad config or bad data fails in seconds.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from entrgi.analysis.compute import compute_summary
from entrgi.analysis.identity import run_identity
from entrgi.data.dataset import PromptDataset, collate_prompts, filter_done
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import Guidance
from entrgi.engine.models.usage import matmul_params
from entrgi.engine.types import PromptItem
from entrgi.pipeline.callbacks.progress import PromptProgressBar
from entrgi.pipeline.callbacks.wandb_stream import batch_logger
from entrgi.pipeline.callbacks.writer import (
    GENERATIONS,
    SHARDS,
    JsonlPredictionWriter,
    done_sample_ids,
    merge_records,
    read_jsonl,
)
from entrgi.pipeline.console import print_summary
from entrgi.pipeline.metrics import empty_metrics, run_metrics, write_metrics
from entrgi.pipeline.module import GuidedDenoisingModule
from entrgi.pipeline.preflight import check_config, device_kwarg, model_devices
from entrgi.pipeline.resume import prepare_resume

log = logging.getLogger(__name__)


@dataclass
class Prompts:
    """The prompts of one run, known before any model loads."""

    items: list[PromptItem]
    skipped: dict[str, int]  # reason -> rows the source left out
    order: dict[str, int]  # sample_id -> position in generations.jsonl


@dataclass
class Built:
    """The models and what drives them, for this rank."""

    lm: Any
    reward: Any
    denoiser: GuidedDenoiser
    module: GuidedDenoisingModule
    identity: dict[str, Any]
    logger: Any  # a Lightning logger, or None for logger=none
    writer: JsonlPredictionWriter
    trainer: Any
    todo: list[PromptItem]  # the prompts to generate (resume=true leaves out those already written)
    resumed: int  # prompts an interrupted run already wrote
    skipped: dict[str, int]  # the source's skips, plus prompts too long for the dLLM


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run one guided-denoising job; returns metrics on global rank 0 (an empty dict elsewhere)."""
    start = time.perf_counter()
    check_config(cfg)
    schedule = instantiate(cfg.schedule)  # these constructors validate their values
    guidance = instantiate(cfg.guidance)
    output_dir = prepare_output(cfg)
    prompts = load_prompts(cfg)
    if not prompts.items:
        return _nothing_to_run(cfg, output_dir, prompts.skipped, guidance)
    record_run(cfg, output_dir, guidance.method)
    built = build(cfg, schedule, guidance, prompts, output_dir)
    summary = None
    try:
        predict(built, prompts.order, output_dir, cfg.data.batch_size)
        if not built.trainer.is_global_zero:
            return {}
        records, metrics = summarize(cfg, built, prompts.order, output_dir, start)
        log_run(cfg, built.logger, records, metrics)
        summary = (metrics, records)
        return metrics
    finally:
        if built.logger is not None:
            import wandb

            wandb.finish()
        if summary is not None:  # last, after W&B's own end-of-run lines
            print_summary(*summary, output_dir)


def prepare_output(cfg: DictConfig) -> Path:
    """The output folder; with ``resume=true``, refuses one of different settings (before any model loads)."""
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.resume and rank_zero_only.rank == 0:
        prepare_resume(output_dir, cfg)
    return output_dir


def load_prompts(cfg: DictConfig) -> Prompts:
    """``data.source`` instantiated as it is, and loaded."""
    loaded = instantiate(cfg.data.source).load()
    return Prompts(loaded.items, dict(loaded.skipped), {it.sample_id: i for i, it in enumerate(loaded.items)})


def record_run(cfg: DictConfig, output_dir: Path, method: str) -> None:
    """On rank 0: the resolved config and the run info (git commit, torch); a fresh run clears old results."""
    if rank_zero_only.rank != 0:
        return
    if not cfg.resume:  # a fresh run owns its folder's results
        (output_dir / GENERATIONS).unlink(missing_ok=True)
        for shard in (output_dir / SHARDS).glob("rank*"):
            shard.unlink()
    (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    (output_dir / "run_info.json").write_text(
        json.dumps(git_commit() | {"torch": torch.__version__, "method": method}, indent=2)
    )


def build(cfg: DictConfig, schedule, guidance, prompts: Prompts, output_dir: Path) -> Built:
    """Load the dLLM and the reward onto this rank's devices, drop prompts too long for the dLLM, and
    build the denoiser, the module, the judge, the logger, the writer and the trainer."""
    done = done_sample_ids(output_dir) if cfg.resume else set()
    devices = model_devices(cfg)  # validated in check_config, before any weights load
    log.info(
        "loading the dLLM onto %s and the reward model onto %s",
        devices.get("model", "its configured device"),
        devices.get("reward", "its configured device"),
    )
    lm = instantiate(cfg.model, **device_kwarg(devices, "model"))
    reward = instantiate(cfg.reward, **device_kwarg(devices, "reward"))
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
    denoiser = GuidedDenoiser(
        lm, reward, guidance, schedule, cfg.samples_per_prompt, cfg.seed, max_chunk_bytes=cfg.get("max_chunk_bytes")
    )
    config = OmegaConf.to_container(cfg, resolve=True)
    module = GuidedDenoisingModule(denoiser, config=config)
    identity = run_identity(config, guidance.method)
    judge = build_judge(cfg, devices)
    logger = build_logger(cfg)
    stream = partial(batch_logger, prompts_total=len(todo)) if logger is not None else None
    writer = JsonlPredictionWriter(
        output_dir, guidance.method, cfg.seed, prompts.order, cfg.save_entropy_maps, judge, identity, stream
    )
    trainer = instantiate(
        cfg.trainer, logger=logger if logger is not None else False, callbacks=[writer, PromptProgressBar(len(todo))]
    )
    return Built(lm, reward, denoiser, module, identity, logger, writer, trainer, todo, len(items) - len(todo), skipped)


def predict(built: Built, order: dict[str, int], output_dir: Path, batch_size: int) -> None:
    """Generate the prompts still to do on every rank; the writer merges the shards on rank 0."""
    if built.todo:
        loader = DataLoader(PromptDataset(built.todo), batch_size=batch_size, shuffle=False, collate_fn=collate_prompts)
        built.trainer.predict(built.module, loader, return_predictions=False)
    elif built.trainer.is_global_zero:  # all done: merge what an interrupted run left in its shards
        merge_records(output_dir, order)
        built.writer.merged_stats = None


def summarize(
    cfg: DictConfig, built: Built, order: dict[str, int], output_dir: Path, start: float
) -> tuple[list[dict], dict[str, Any]]:
    """On rank 0: this run's records (in data order) and its metrics, written to metrics.json."""
    records = [r for r in read_jsonl(output_dir / GENERATIONS) if r["sample_id"] in order]
    stats = built.writer.merged_stats or {}
    skipped = dict(built.skipped)
    if stats.get("oom_skipped"):  # prompts that ran out of memory even alone (entrgi.pipeline.oom)
        skipped["out_of_memory"] = stats["oom_skipped"]
    params = matmul_params(built.lm.model), matmul_params(built.reward.model)  # dLLM, reward
    metrics = run_metrics(
        records,
        stats,
        identity=built.identity,
        method=built.identity["method"],
        seed=cfg.seed,
        samples_per_prompt=cfg.samples_per_prompt,
        total_wall_s=time.perf_counter() - start,
        compute=compute_summary(stats, *params, len(built.todo)),
        world_size=built.trainer.world_size,
        resumed_prompts=built.resumed,
        skipped=skipped,
    )
    metrics["guidance"] = built.denoiser.guidance.name  # what ran: the method and its hyper-parameters
    if built.denoiser.bridge is not None:
        metrics["vocab_coverage"] = built.denoiser.bridge.coverage.as_dict()
    write_metrics(output_dir, metrics)
    return records, metrics


def log_run(cfg: DictConfig, logger, records: list[dict], metrics: dict[str, Any]) -> None:
    """End-of-run W&B: the config (with the git commit), the metrics and the generations table."""
    if logger is None:
        return
    from entrgi.pipeline.callbacks.wandb_logging import log_run as log_to_wandb

    logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True) | git_commit())
    log_to_wandb(logger.experiment, records, metrics)


def git_commit() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=here, capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            return {"git_commit": commit.stdout.strip(), "git_dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        pass
    return {"git_commit": None, "git_dirty": None}


def drop_too_long(items: list[PromptItem], lm, max_new_tokens: int, on_invalid: str) -> tuple[list[PromptItem], int]:
    """Prompts that do not fit the dLLM context next to the response: skipped and counted, or an error."""
    if lm.max_length is None:
        return items, 0
    lengths = [len(x) for x in lm.prompt_ids([it.messages() for it in items])] if items else []
    keep = [it for it, n in zip(items, lengths, strict=True) if n + max_new_tokens <= lm.max_length]
    if len(keep) < len(items) and on_invalid == "error":
        bad = next(it.sample_id for it, n in zip(items, lengths, strict=True) if n + max_new_tokens > lm.max_length)
        raise ValueError(
            f"sample {bad!r} does not fit the dLLM context ({lm.max_length} tokens) with "
            f"schedule.max_new_tokens={max_new_tokens}; set data.on_invalid=skip to skip such prompts"
        )
    return keep, len(items) - len(keep)


def build_judge(cfg: DictConfig, devices: dict[str, torch.device]):
    """The ``judge`` group's judge on this rank's device, or None for ``judge=none``."""
    if not cfg.get("judge") or "_target_" not in cfg.judge:
        return None
    return instantiate(cfg.judge, **device_kwarg(devices, "judge"))


def build_logger(cfg: DictConfig):
    if not cfg.get("logger") or "_target_" not in cfg.logger:
        return None
    return instantiate(cfg.logger)


def _nothing_to_run(cfg: DictConfig, output_dir: Path, skipped: dict[str, int], guidance: Guidance) -> dict[str, Any]:
    """No prompt survived loading: say so, write metrics.json (rank 0) and load no model."""
    log.warning(
        "nothing to run: the data gave no valid prompt (skipped: %s); see data.path / data.on_invalid",
        skipped or "none",
    )
    identity = run_identity(OmegaConf.to_container(cfg, resolve=True), guidance.method)
    metrics = empty_metrics(identity, guidance.method, cfg.seed, skipped)
    metrics["guidance"] = guidance.name  # as summarize() writes it
    if rank_zero_only.rank == 0:
        write_metrics(output_dir, metrics)
    return metrics
