"""``python -m entrgi.posttrain``: post-train a dLLM on the completions guidance finds (RGRL and
its variants), as one Lightning ``fit``.

Phases: check the config (no model loaded), hold the run folder (lock; a fresh run refuses a folder
with results, ``overwrite=true`` moves them aside; ``resume=true`` continues from
``checkpoints/last.ckpt``), load the prompts (training and held-out), build (dLLM + LoRA, reward,
guided denoiser, unguided evaluator, judge, objective, estimator), ``Trainer.fit``, save the adapter
(``adapter/``, peft's format) and ``posttrain.json``.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from entrgi.engine.checks import require_bool, require_positive
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance.bon import NoGuidance
from entrgi.engine.models.adapters import add_lora, check_quantization, enable_gradient_checkpointing
from entrgi.engine.plugins import resolve
from entrgi.engine.posttrain import LogLikEstimator
from entrgi.outputs.files import RunFolder
from entrgi.outputs.posttrain import read_history, truncate_after, write_summary
from entrgi.outputs.provenance import git_commit
from entrgi.pipeline.builders import build_denoiser, build_judge, drop_too_long, load_models
from entrgi.pipeline.callbacks.stop import StopAfterStep
from entrgi.pipeline.posttrain.module import PostTrainModule
from entrgi.pipeline.preempt import StopSignals
from entrgi.pipeline.preflight import check_config, model_devices
from entrgi.pipeline.resume import check_training_config
from entrgi.pipeline.run_folder import open_job, record_run
from entrgi.pipeline.tracking import build_logger, finish_wandb

log = logging.getLogger(__name__)


def check_posttrain_config(cfg: DictConfig) -> None:
    """The run's own checks plus post-training's, naming the key; no model is loaded."""
    check_config(cfg)
    p = cfg.posttrain
    for key, kind in (("max_steps", int), ("batch_size", int), ("lr", float), ("checkpoint_every", int)):
        require_positive(p.get(key), f"posttrain.{key}", kind)
    require_bool(p.get("gradient_checkpointing"), "posttrain.gradient_checkpointing")
    if not isinstance(cfg.eval.get("every"), int) or cfg.eval.every < 0:
        raise ValueError(
            f"eval.every must be a non-negative integer (0: no held-out evaluation), got {cfg.eval.get('every')!r}"
        )
    require_positive(cfg.eval.get("samples_per_prompt"), "eval.samples_per_prompt")
    require_positive(cfg.eval.get("batch_size"), "eval.batch_size")
    devices = model_devices(cfg)
    if "model" in devices:
        check_quantization(cfg.model.get("quantization"), devices["model"])
    build_estimator(cfg.objective)  # its values
    instantiate(cfg.objective.loss)


def build_estimator(objective: DictConfig) -> LogLikEstimator:
    """``objective.estimator`` (the ``spec`` of a ``LogLikEstimator``: ``one_step``, ``elbo``, or yours once
    imported) built from its keys ``objective.<estimator>.*`` (conf/_base_objective.yaml)."""
    name = str(objective.get("estimator"))
    keys = OmegaConf.to_container(objective[name], resolve=True) if objective.get(name) else {}
    return resolve(LogLikEstimator, name, "objective.estimator", **keys)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Post-train as ``cfg`` says; returns the summary (``posttrain.json``) on global rank 0.

    The job lifecycle is ``entrgi.run``'s (``run_folder.open_job``, ``record_run``, ``preempt.StopSignals``): a
    SIGTERM / SIGUSR1 / Ctrl-C ends it after the optimizer step in flight, with ``checkpoints/last.ckpt`` saved,
    raising ``preempt.RunStopped`` whose message says how to resume."""
    start = time.perf_counter()
    check_posttrain_config(cfg)
    with open_job(cfg, on_resume=prepare_posttrain_resume) as output_dir:
        ckpt = str(last_checkpoint(output_dir)) if cfg.resume else None
        wandb_id = record_run(cfg, output_dir, "posttrain")
        return _run(cfg, output_dir, ckpt, start, wandb_id)


def last_checkpoint(output_dir: Path) -> Path:
    return RunFolder(output_dir).checkpoints / "last.ckpt"


def prepare_posttrain_resume(output_dir: Path, cfg: DictConfig) -> None:
    """On rank 0 under the lock: the saved settings (``resume.POSTTRAIN_RESUME``), ``checkpoints/last.ckpt``
    (an error naming it when absent), and the history cut back to the checkpoint's step."""
    check_training_config(output_dir, cfg)
    last = last_checkpoint(output_dir)
    if not last.is_file():
        raise FileNotFoundError(
            f"resume=true but {last} does not exist: the run saved no checkpoint yet "
            f"(posttrain.checkpoint_every={cfg.posttrain.checkpoint_every}); start it again without resume=true"
        )
    step = int(torch.load(last, map_location="cpu", weights_only=False)["global_step"])
    truncate_after(output_dir, step)
    log.info("resuming from %s at step %d", last, step)


def _run(cfg: DictConfig, output_dir: Path, ckpt: str | None, start: float, wandb_id: str | None) -> dict[str, Any]:
    devices = model_devices(cfg)
    schedule = instantiate(cfg.schedule)
    guidance = instantiate(cfg.guidance)
    train_items = instantiate(cfg.data.source).load().items
    heldout = instantiate(cfg.eval.data.source).load().items if cfg.eval.every else []
    lm, reward = load_models(cfg, devices)
    train_items, _ = drop_too_long(train_items, lm, schedule.max_new_tokens, cfg.data.get("on_invalid", "skip"))
    if not train_items:
        raise ValueError("no training prompt fits the dLLM context; see data.* and schedule.max_new_tokens")
    lora = cfg.lora
    # peft draws the LoRA A matrices from torch's global generator: seed it, so the initial adapter is a
    # function of ``seed``, not of what ran before in this process (a multirun's earlier jobs, a notebook)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(cfg.seed))
        lm.model = add_lora(
            lm.model,
            r=lora.r,
            alpha=lora.alpha,
            dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            quantized=bool(cfg.model.get("quantization")),
        )
    if cfg.posttrain.gradient_checkpointing:
        enable_gradient_checkpointing(lm.model)
    denoiser = build_denoiser(cfg, lm, reward, guidance, schedule)
    evaluator = GuidedDenoiser(
        lm,
        reward,
        NoGuidance(),
        schedule,
        samples_per_prompt=cfg.eval.samples_per_prompt,
        seed=cfg.eval.seed,
        bridge=denoiser.bridge,
        max_chunk_bytes=cfg.get("max_chunk_bytes"),
    )
    module = PostTrainModule(
        denoiser=denoiser,
        objective=instantiate(cfg.objective.loss),
        estimator=build_estimator(cfg.objective),
        train_items=train_items,
        batch_size=cfg.posttrain.batch_size,
        lr=cfg.posttrain.lr,
        weight_decay=cfg.posttrain.weight_decay,
        lr_schedule=cfg.posttrain.lr_schedule,
        max_steps=cfg.posttrain.max_steps,
        seed=cfg.seed,
        output_dir=output_dir,
        evaluator=evaluator,
        judge=build_judge(cfg, devices),
        heldout=heldout,
        val_every=cfg.eval.every,
        eval_batch_size=cfg.eval.batch_size,
    )
    logger = build_logger(cfg, wandb_id)
    checkpoints = ModelCheckpoint(
        dirpath=RunFolder(output_dir).checkpoints,
        filename="step{step}",
        every_n_train_steps=cfg.posttrain.checkpoint_every,
        save_last=True,
        save_top_k=1,
        auto_insert_metric_name=False,
    )
    signals = StopSignals()
    stop = StopAfterStep(signals, last_checkpoint(output_dir), cfg.posttrain.max_steps)
    callbacks = [checkpoints, stop]
    trainer = instantiate(cfg.trainer, logger=logger if logger is not None else False, callbacks=callbacks)
    with warnings.catch_warnings(), signals:  # the frozen models are in eval mode on purpose (modes per phase)
        warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
        trainer.fit(module, ckpt_path=ckpt)
    if signals.requested:
        if logger is not None:
            finish_wandb(stop.stopped)
        raise stop.stopped
    if not trainer.is_global_zero:
        return {}
    adapter = RunFolder(output_dir).adapter
    lm.model.save_pretrained(str(adapter))
    history = read_history(output_dir)
    evals = [r for r in history if r["kind"] == "eval"]
    steps = [r for r in history if r["kind"] == "step"]
    summary = {
        "objective": module.objective.name,
        "estimator": module.estimator.name,
        "guidance": guidance.name,
        "samples_per_prompt": cfg.samples_per_prompt,
        "steps": trainer.global_step,
        "seed": cfg.seed,
        "before": evals[0] if evals else None,
        "after": evals[-1] if evals else None,
        "gen_flops": sum(r["gen_flops"] for r in steps),
        "gen_flops_per_step": (sum(r["gen_flops"] for r in steps) / len(steps)) if steps else None,
        "trainable_params": sum(p.numel() for p in lm.model.parameters() if p.requires_grad),
        "adapter": str(adapter),
        "wall_s": time.perf_counter() - start,
    }
    write_summary(output_dir, summary)
    if logger is not None:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True) | git_commit())
        finish_wandb(None)
    return summary
