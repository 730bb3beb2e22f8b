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
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from entrgi.engine.checks import require_bool, require_positive
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance.bon import NoGuidance
from entrgi.engine.models.adapters import add_lora, check_quantization, enable_gradient_checkpointing
from entrgi.engine.posttrain import ElboEstimator, LogLikEstimator, OneStepEstimator
from entrgi.outputs.atomic import write_json
from entrgi.outputs.files import RunFolder
from entrgi.outputs.guard import check_fresh
from entrgi.outputs.lock import RunLock
from entrgi.outputs.posttrain import read_history, truncate_after, write_summary
from entrgi.outputs.provenance import git_commit
from entrgi.outputs.settings import write_config
from entrgi.pipeline.phases import build_denoiser, build_judge, drop_too_long
from entrgi.pipeline.posttrain.module import PostTrainModule
from entrgi.pipeline.preflight import check_config, device_kwarg, model_devices
from entrgi.pipeline.resume import differing, flatten_config
from entrgi.pipeline.tracking import build_logger

log = logging.getLogger(__name__)

# objective.estimator -> its class; its keys are objective.<estimator>.* (conf/_base_objective.yaml)
ESTIMATORS: dict[str, type[LogLikEstimator]] = {"one_step": OneStepEstimator, "elbo": ElboEstimator}


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
    if cfg.objective.get("estimator") not in ESTIMATORS:
        raise ValueError(f"objective.estimator={cfg.objective.get('estimator')!r}; choose one of {sorted(ESTIMATORS)}")
    devices = model_devices(cfg)
    if "model" in devices:
        check_quantization(cfg.model.get("quantization"), devices["model"])
    build_estimator(cfg.objective)  # its values
    instantiate(cfg.objective.loss)


def build_estimator(objective: DictConfig) -> LogLikEstimator:
    """``objective.estimator`` built from its keys, ``objective.one_step.*`` or ``objective.elbo.*``."""
    name = objective.estimator
    return ESTIMATORS[name](**OmegaConf.to_container(objective.get(name) or {}, resolve=True))


def run(cfg: DictConfig) -> dict[str, Any]:
    """Post-train as ``cfg`` says; returns the summary (``posttrain.json``) on global rank 0."""
    start = time.perf_counter()
    check_posttrain_config(cfg)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(output_dir) if rank_zero_only.rank == 0 else nullcontext():  # DDP ranks share rank 0's lock
        ckpt = _resume_point(cfg, output_dir)
        return _run(cfg, output_dir, ckpt, start)


def _resume_point(cfg: DictConfig, output_dir: Path) -> str | None:
    """``checkpoints/last.ckpt`` for ``resume=true`` (an error naming it when absent); a fresh run's
    folder checked (``overwrite``) and recorded."""
    run = RunFolder(output_dir)
    last = run.checkpoints / "last.ckpt"
    if cfg.resume:
        check_same_training(output_dir, cfg)
        if not last.is_file():
            raise FileNotFoundError(
                f"resume=true but {last} does not exist: the run saved no checkpoint yet "
                f"(posttrain.checkpoint_every={cfg.posttrain.checkpoint_every}); start it again without resume=true"
            )
        if rank_zero_only.rank == 0:
            step = int(torch.load(last, map_location="cpu", weights_only=False)["global_step"])
            truncate_after(output_dir, step)
            log.info("resuming from %s at step %d", last, step)
        return str(last)
    if rank_zero_only.rank == 0:
        check_fresh(output_dir, resume=False, overwrite=bool(cfg.get("overwrite", False)))
        write_config(output_dir, OmegaConf.to_yaml(cfg, resolve=True))
        write_json(run.run_info, git_commit() | {"torch": torch.__version__, "method": "posttrain"})
    return None


# What resume=true must keep: everything that shapes the steps still to take (the LR schedule spans max_steps).
_TRAINING_GROUPS = ("model", "reward", "guidance", "schedule", "particles", "data", "objective", "lora", "posttrain")
_TRAINING_TOP = ("seed", "samples_per_prompt", "max_chunk_bytes")
_MAY_CHANGE = ("posttrain.checkpoint_every", "posttrain.gradient_checkpointing", "data.batch_size")


def check_same_training(output_dir: Path, cfg: DictConfig) -> None:
    """Refuse ``resume=true`` when the saved config differs in a key that shapes training, naming each."""
    path = RunFolder(output_dir).config
    if not path.is_file():
        return

    def training_keys(config: dict) -> dict:
        return {
            k: v
            for k, v in flatten_config(config).items()
            if (k in _TRAINING_TOP or k.split(".", 1)[0] in _TRAINING_GROUPS)
            and k not in _MAY_CHANGE
            and not k.endswith(".device")
        }

    saved = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    diff = differing(training_keys(saved), training_keys(OmegaConf.to_container(cfg, resolve=True)))
    if diff:
        lines = "\n".join(f"  {k}: saved {old!r}, now {new!r}" for k, (old, new) in diff.items())
        raise ValueError(
            f"resume=true refused: {output_dir} was trained with different settings ({', '.join(diff)}):\n{lines}\n"
            "A resumed post-training run keeps its model, reward, guidance, schedule, particles, data, objective, "
            "lora and posttrain keys (posttrain.max_steps too: the linear LR schedule spans it), seed and "
            f"samples_per_prompt. Pass the saved values (see {path}), or train into a new paths.output_dir."
        )


def _run(cfg: DictConfig, output_dir: Path, ckpt: str | None, start: float) -> dict[str, Any]:
    devices = model_devices(cfg)
    schedule = instantiate(cfg.schedule)
    guidance = instantiate(cfg.guidance)
    train_items = instantiate(cfg.data.source).load().items
    heldout = instantiate(cfg.eval.data.source).load().items if cfg.eval.every else []
    lm = instantiate(cfg.model, **device_kwarg(devices, "model"))
    reward = instantiate(cfg.reward, **device_kwarg(devices, "reward"))
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
    logger = build_logger(cfg)
    checkpoints = ModelCheckpoint(
        dirpath=RunFolder(output_dir).checkpoints,
        filename="step{step}",
        every_n_train_steps=cfg.posttrain.checkpoint_every,
        save_last=True,
        save_top_k=1,
        auto_insert_metric_name=False,
    )
    trainer = instantiate(cfg.trainer, logger=logger if logger is not None else False, callbacks=[checkpoints])
    with warnings.catch_warnings():  # the frozen models are in eval mode on purpose (the module sets modes per phase)
        warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
        trainer.fit(module, ckpt_path=ckpt)
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
        import wandb

        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True) | git_commit())
        wandb.finish()
    return summary
