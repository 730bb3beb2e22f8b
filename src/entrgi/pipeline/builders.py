"""What every job builds from a config, in one place: the dLLM and the reward on this rank's devices, the guided
denoiser over them, the judge, and the prompts that fit the dLLM's context. ``entrgi.run`` (``phases.py``),
``entrgi.posttrain`` (``posttrain/job.py``) and ``entrgi.probe`` (``probe.py``) build through it, so no job
imports another job's module (``tests/unit/test_house_rules.py``)."""

from __future__ import annotations

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.models.base import DiffusionLM
from entrgi.engine.models.reward_base import RewardModel
from entrgi.engine.types import PromptItem
from entrgi.pipeline.preflight import device_kwarg


def load_models(cfg: DictConfig, devices: dict[str, torch.device]) -> tuple[DiffusionLM, RewardModel]:
    """The ``model`` and ``reward`` groups' models on this rank's devices (``preflight.model_devices``)."""
    lm = instantiate(cfg.model, **device_kwarg(devices, "model"))
    reward = instantiate(cfg.reward, **device_kwarg(devices, "reward"))
    return lm, reward


def build_denoiser(cfg: DictConfig, lm: DiffusionLM, reward: RewardModel, guidance, schedule) -> GuidedDenoiser:
    """The guided denoiser a run's config describes (K, seed, chunk size, particles), over loaded models."""
    return GuidedDenoiser(
        *(lm, reward, guidance, schedule),
        samples_per_prompt=cfg.samples_per_prompt,
        seed=cfg.seed,
        max_chunk_bytes=cfg.get("max_chunk_bytes"),
        particles=instantiate(cfg.particles) if cfg.get("particles") else None,
    )


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
