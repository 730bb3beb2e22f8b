"""Test doubles that implement the engine's interfaces with known answers."""

from __future__ import annotations

import torch

from entrgi.models.reward_base import RewardContext, RewardModel
from entrgi.models.usage import ModelUsage


class TokenCountReward(RewardModel):
    """A reward that pays one unit per occurrence of ``target`` in the response.

    Its input embeddings are one-hot over its own vocabulary (the dLLM tokenizer's), so the
    soft score is the expected number of target tokens; text scoring counts the word.
    """

    def __init__(self, tokenizer, target: str):
        self.tokenizer = tokenizer
        self.target = target
        self.target_id = tokenizer.convert_tokens_to_ids(target)
        self.model = torch.nn.Module()  # no weights; E_R is a buffer, so it moves with the module
        self.model.register_buffer("table", torch.eye(len(tokenizer)))
        self.min_vocab_coverage = 0.5
        self.calls = 0
        self.usage = ModelUsage()

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self.model.table

    def context(self, messages):
        n, dev = len(messages), self.device
        return RewardContext(
            torch.zeros(n, 1, dtype=torch.long, device=dev),
            torch.ones(n, 1, dtype=torch.bool, device=dev),
            torch.zeros(1, dtype=torch.long, device=dev),
        )

    def score_embeds(self, ctx, response_embeds, response_mask):
        self.calls += 1
        self.usage.forward(response_mask.numel(), backward=response_embeds.requires_grad)
        return (response_embeds[..., self.target_id] * response_mask).sum(-1).float()

    def score_text(self, messages, responses):
        self.calls += 1
        self.usage.forward(len(responses))
        return torch.tensor([float(r.split().count(self.target)) for r in responses])
