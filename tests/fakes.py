"""Test doubles that implement the engine's interfaces with known answers."""

from __future__ import annotations

import torch

from entrgi.models.reward import RewardContext
from entrgi.models.usage import ModelUsage


class TokenCountReward:
    """A reward that pays one unit per occurrence of ``target`` in the response.

    Its input embeddings are one-hot over its own vocabulary (the dLLM tokenizer's), so the
    soft score is the expected number of target tokens; text scoring counts the word.
    """

    def __init__(self, tokenizer, target: str):
        self.tokenizer = tokenizer
        self.target = target
        self.target_id = tokenizer.convert_tokens_to_ids(target)
        self.embedding_matrix = torch.eye(len(tokenizer))
        self.calls = 0
        self.usage = ModelUsage()
        self.device = torch.device("cpu")

    def context(self, messages):
        n = len(messages)
        return RewardContext(
            torch.zeros(n, 1, dtype=torch.long), torch.ones(n, 1, dtype=torch.bool), torch.zeros(1, dtype=torch.long)
        )

    def score_embeds(self, ctx, response_embeds, response_mask):
        self.calls += 1
        self.usage.forward(response_mask.numel(), backward=response_embeds.requires_grad)
        return (response_embeds[..., self.target_id] * response_mask).sum(-1).float()

    def score_text(self, messages, responses):
        self.calls += 1
        self.usage.forward(len(responses))
        return torch.tensor([float(r.split().count(self.target)) for r in responses])
