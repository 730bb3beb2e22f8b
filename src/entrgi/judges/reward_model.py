"""A held-out sequence-classification reward model as a judge (e.g. Skywork-Reward-V2-Qwen3-4B
judging a run that a 0.6B / 1.7B model guided)."""

from __future__ import annotations

import torch

from entrgi.engine.checks import require_positive
from entrgi.engine.models.dtypes import resolve_device, resolve_dtype
from entrgi.engine.models.reward import SequenceClassifierReward
from entrgi.engine.models.reward_base import RewardModel
from entrgi.judges.base import Judge, check_batch, json_number


class RewardModelJudge(Judge):
    """Field ``score``: the reward model's score of the response in the prompt's chat
    (:meth:`SequenceClassifierReward.score_text`, its chat template, one label)."""

    name = "reward_model"

    def __init__(self, reward: RewardModel):
        self.reward = reward

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        dtype: str | torch.dtype = "bfloat16",
        device: str | torch.device | None = None,
        trust_remote_code: bool = False,
        batch_size: int = 32,
        attn_implementation: str | None = None,
        allow_guidance_reward: bool = False,
    ) -> RewardModelJudge:
        """Load any one-label ``AutoModelForSequenceClassification`` checkpoint (hub id or folder).
        ``allow_guidance_reward`` is read before any model loads (``judges/held_out.py``), not here."""
        require_positive(batch_size, "judge.batch_size", hint="responses per forward")
        # resolved here so that errors name the judge's keys, not the guiding reward's
        device, dtype = resolve_device(device, "judge.device"), resolve_dtype(dtype, "judge.dtype")
        reward = SequenceClassifierReward.from_pretrained(
            path,
            dtype=dtype,
            device=device,
            trust_remote_code=trust_remote_code,
            score_batch_size=batch_size,
            cache_prefix=False,
            attn_implementation=attn_implementation,
        )
        return cls(reward)

    def score(self, messages: list[list[dict[str, str]]], responses: list[list[str]]) -> list[list[dict]]:
        check_batch(messages, responses)
        flat_messages = [chat for chat, rs in zip(messages, responses, strict=True) for _ in rs]
        flat = [r for rs in responses for r in rs]
        scores = self.reward.score_text(flat_messages, flat).tolist() if flat else []
        out, start = [], 0
        for rs in responses:
            out.append([{"score": json_number(s)} for s in scores[start : start + len(rs)]])
            start += len(rs)
        return out
