"""Build everything from a composed config, run ``trainer.predict``, write and log the results.

``run(cfg)`` is what ``python -m entrgi.run`` calls; tests and notebooks call it directly with a
config composed by ``hydra.compose`` (set ``paths.output_dir`` there).
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from entrgi.callbacks.progress import PromptProgressBar
from entrgi.callbacks.wandb_stream import batch_logger
from entrgi.callbacks.writer import (
    GENERATIONS,
    SHARDS,
    JsonlPredictionWriter,
    done_sample_ids,
    merge_records,
    read_jsonl,
)
from entrgi.checks import require_positive
from entrgi.console import print_summary
from entrgi.data.dataset import PromptDataset, collate_prompts, filter_done
from entrgi.denoiser import GuidedDenoiser
from entrgi.eval.compute import compute_summary
from entrgi.eval.identity import run_identity
from entrgi.eval.records import summarize
from entrgi.models.dtypes import resolve_device
from entrgi.models.usage import matmul_params
from entrgi.module import GuidedDenoisingModule
from entrgi.resume import prepare_resume
from entrgi.types import PromptItem

log = logging.getLogger(__name__)

_DATA_RUNTIME_KEYS = ("batch_size",)  # data-config keys that are not the source's arguments
_MODEL_GROUPS = ("model", "reward", "judge")
_PRE_LAUNCH_STRATEGIES = ("spawn", "fork", "notebook")  # start their ranks after this process built the models


def check_config(cfg: DictConfig) -> None:
    """Checks that need no model: fail fast, naming the key."""
    require_positive(cfg.get("samples_per_prompt"), "samples_per_prompt (K)")
    require_positive(cfg.data.get("batch_size"), "data.batch_size")
    if cfg.get("max_chunk_bytes") is not None:
        require_positive(
            cfg.max_chunk_bytes, "max_chunk_bytes", hint="bytes per [rows, V] chunk, or null for the default"
        )
    if "path" in cfg.data and OmegaConf.is_missing(cfg.data, "path"):
        raise ValueError("data.path is required for data=jsonl: pass data.path=/path/to/prompts.jsonl")
    _guard_multirun_ddp(cfg)
    model_devices(cfg)


def model_devices(cfg: DictConfig) -> dict[str, torch.device]:
    """Where this rank loads each model (``{"model": ..., "reward": ...}``, for groups with a ``device``).

    ``device: auto`` is this rank's GPU (``resolve_device``: ``cuda:<local rank>``, or the local
    rank's entry of a ``trainer.devices`` list) when CUDA is available, so each rank loads straight
    onto its own GPU and Lightning's move is a no-op. It is ``cpu`` when ``trainer.accelerator=cpu``
    (where a GPU device is an error) and under spawn/fork strategies, whose ranks start after the
    models are built in this process (Lightning moves them). Bad values fail here, naming the key.
    """
    trainer = cfg.get("trainer") or {}
    accelerator = trainer.get("accelerator")
    pre_launch = any(name in str(trainer.get("strategy", "")) for name in _PRE_LAUNCH_STRATEGIES)
    devices = trainer.get("devices")
    if isinstance(devices, str) and "," in devices:  # Lightning's "0,1" form
        devices = [d for d in devices.split(",") if d.strip()]
    gpu_ids = [int(d) for d in devices] if OmegaConf.is_list(devices) or isinstance(devices, (list, tuple)) else None
    placed = {}
    for group in _MODEL_GROUPS:
        if group not in cfg or "device" not in cfg[group]:
            continue
        device = cfg[group].device
        if pre_launch and device in (None, "auto"):
            device = "cpu"
        placed[group] = resolve_device(device, f"{group}.device", accelerator, gpu_ids)
    return placed


def _device_kwarg(devices: dict[str, torch.device], group: str) -> dict[str, str]:
    return {"device": str(devices[group])} if group in devices else {}


def _guard_multirun_ddp(cfg: DictConfig) -> None:
    """Lightning-spawned DDP inside a Hydra multirun re-runs the whole sweep in each child rank."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN or "BasicLauncher" not in str(hc.launcher.get("_target_", "")):
        return
    devices, nodes = cfg.trainer.get("devices", 1), cfg.trainer.get("num_nodes", 1)
    if str(devices) not in ("1", "auto") or nodes != 1 or "ddp" in str(cfg.trainer.get("strategy", "")):
        raise ValueError(
            "a Hydra multirun with the basic launcher cannot use multi-device DDP "
            f"(trainer.devices={devices}, trainer.num_nodes={nodes}, trainer.strategy={cfg.trainer.get('strategy')}): "
            "Lightning's spawned ranks would re-run the whole sweep. Use launcher=slurm (one SLURM job per run), "
            "or launch one single run per configuration without -m."
        )


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


def load_prompts(cfg: DictConfig) -> tuple[list[PromptItem], dict[str, int]]:
    kwargs = {k: v for k, v in cfg.data.items() if k not in _DATA_RUNTIME_KEYS}
    loaded = instantiate(OmegaConf.create(kwargs)).load()
    return loaded.items, dict(loaded.skipped)


def drop_too_long(items: list[PromptItem], lm, max_new_tokens: int, on_invalid: str) -> tuple[list[PromptItem], int]:
    """Prompts that do not fit the dLLM context next to the response: skipped and counted, or an error."""
    if getattr(lm, "max_length", None) is None or not hasattr(lm, "prompt_ids"):
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
    return instantiate(cfg.judge, **_device_kwarg(devices, "judge"))


def build_logger(cfg: DictConfig):
    if not cfg.get("logger") or "_target_" not in cfg.logger:
        return None
    return instantiate(cfg.logger)


def _nothing_to_run(cfg: DictConfig, output_dir: Path, skipped: dict[str, int], method: str) -> dict[str, Any]:
    """No prompt survived loading: say so, write metrics.json (rank 0) and load no model."""
    log.warning(
        "nothing to run: the data gave no valid prompt (skipped: %s); see data.path / data.on_invalid",
        skipped or "none",
    )
    metrics = {
        "num_prompts": 0,
        "top1_reward_mean": None,
        "avgN_reward_mean": None,
        "method": method,
        "seed": cfg.seed,
        "run": run_identity(OmegaConf.to_container(cfg, resolve=True), method),
        "skipped": skipped,
    }
    if rank_zero_only.rank == 0:
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _reward_params(reward) -> int:
    return matmul_params(reward.model) if isinstance(getattr(reward, "model", None), torch.nn.Module) else 0


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run one guided-denoising job; returns metrics on global rank 0 (an empty dict elsewhere)."""
    start = time.perf_counter()
    check_config(cfg)
    schedule = instantiate(cfg.schedule)  # these constructors validate their values
    guidance = instantiate(cfg.guidance)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if cfg.resume and rank_zero_only.rank == 0:  # refuses a folder of different settings, before any model loads
        prepare_resume(output_dir, cfg)

    items, skipped = load_prompts(cfg)
    if not items:
        return _nothing_to_run(cfg, output_dir, skipped, guidance.name)
    order = {it.sample_id: i for i, it in enumerate(items)}
    if rank_zero_only.rank == 0:
        if not cfg.resume:  # a fresh run owns its folder's results
            (output_dir / GENERATIONS).unlink(missing_ok=True)
            for shard in (output_dir / SHARDS).glob("rank*"):
                shard.unlink()
        (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
        (output_dir / "run_info.json").write_text(
            json.dumps(git_commit() | {"torch": torch.__version__, "method": guidance.name}, indent=2)
        )
    done = done_sample_ids(output_dir) if cfg.resume else set()

    devices = model_devices(cfg)  # validated in check_config, before any weights load
    log.info(
        "loading the dLLM onto %s and the reward model onto %s",
        devices.get("model", "its configured device"),
        devices.get("reward", "its configured device"),
    )
    lm = instantiate(cfg.model, **_device_kwarg(devices, "model"))
    reward = instantiate(cfg.reward, **_device_kwarg(devices, "reward"))
    items, too_long = drop_too_long(items, lm, schedule.max_new_tokens, cfg.data.get("on_invalid", "skip"))
    if too_long:
        skipped["too_long"] = too_long
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
    identity = run_identity(config, guidance.name)
    judge = build_judge(cfg, devices)
    logger = build_logger(cfg)
    stream = partial(batch_logger, prompts_total=len(todo)) if logger is not None else None
    writer = JsonlPredictionWriter(
        output_dir, guidance.name, cfg.seed, order, cfg.save_entropy_maps, judge, identity, stream
    )
    trainer = instantiate(
        cfg.trainer, logger=logger if logger is not None else False, callbacks=[writer, PromptProgressBar(len(todo))]
    )
    summary = None
    try:
        if todo:
            loader = DataLoader(
                PromptDataset(todo), batch_size=cfg.data.batch_size, shuffle=False, collate_fn=collate_prompts
            )
            trainer.predict(module, loader, return_predictions=False)
        elif trainer.is_global_zero:  # all done: merge what an interrupted run left in its shards
            merge_records(output_dir, order)
            writer.merged_stats = None
        if not trainer.is_global_zero:
            return {}
        records = [r for r in read_jsonl(output_dir / GENERATIONS) if r["sample_id"] in order]
        stats = writer.merged_stats or {}
        if stats.get("oom_skipped"):  # prompts that ran out of memory even alone (entrgi.oom)
            skipped["out_of_memory"] = stats["oom_skipped"]
        metrics = summarize(records) | {
            "run": identity,
            "method": guidance.name,
            "seed": cfg.seed,
            "samples_per_prompt": cfg.samples_per_prompt,
            "generation_wall_s": stats.get("generation_wall_s", 0.0),
            "total_wall_s": time.perf_counter() - start,
            "tokens_per_s": stats["generated_tokens"] / stats["generation_wall_s"]
            if stats.get("generation_wall_s")
            else None,
            "device_s": stats.get("device_s"),
            "gpu_s": stats.get("device_s") if stats.get("device_type") == "cuda" else None,
            "compute": compute_summary(stats, matmul_params(lm.model), _reward_params(reward), len(todo)),
            "peak_memory_bytes": stats.get("peak_memory_bytes"),
            "peak_gpu_memory_bytes": stats.get("peak_gpu_memory_bytes"),
            "dllm_calls": stats.get("dllm_calls", 0),
            "reward_calls": stats.get("reward_calls", 0),
            "faults": stats.get("faults", 0),
            "world_size": stats.get("world_size", trainer.world_size),
            "resumed_prompts": len(items) - len(todo),
            "skipped": skipped,
        }
        if denoiser.bridge is not None:
            metrics["vocab_coverage"] = denoiser.bridge.coverage.as_dict()
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
        if logger is not None:
            from entrgi.callbacks.wandb_logging import log_run

            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True) | git_commit())
            log_run(logger.experiment, records, metrics)
        summary = (metrics, records)
        return metrics
    finally:
        if logger is not None:
            import wandb

            wandb.finish()
        if summary is not None:  # last, after W&B's own end-of-run lines
            print_summary(*summary, output_dir)
