"""What a post-training step maximizes over a prompt's K completions (``objective=``).

Each objective gives every completion a weight from the K rewards; the loss is

    loss = -(1/B) sum_b sum_k weight[b, k] * seq_logp[b, k]        (reduction=mean, the default)

with ``seq_logp`` the estimator's log-likelihood divided by the completion length. Completions of
weight zero are never forwarded (``trains_on``).

- ``RGRL`` (``objective=rgrl``, the authors' RGRL): weight 1/K; the rewards are only logged.
- ``RewardWeighted`` (``objective=reward_weighted``): weight (r - mean_K r) / (std_K r + eps) / K, the
  group-normalized reward (std with Bessel's correction, as GRPO): a policy-gradient step.
- ``BestOfKSFT`` (``objective=bon_sft``): weight 1 on each prompt's highest-reward completion (the
  first on ties), 0 elsewhere: supervised fine-tuning on best-of-K samples.

``reduction=sum`` is the authors' scale: summed over the prompts a process holds, so the gradient
grows with the per-device batch (docs/FIDELITY.md); ``mean`` makes 1 and 2 processes agree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from entrgi.engine.checks import require_positive

REDUCTIONS = ("mean", "sum")


class Objective(ABC):
    name: str

    def __init__(self, *, reduction: str = "mean"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"objective.loss.reduction={reduction!r}; choose one of {list(REDUCTIONS)}")
        self.reduction = reduction

    @abstractmethod
    def weights(self, rewards: torch.Tensor) -> torch.Tensor:
        """[B, K] rewards -> [B, K] weights of the completions' log-likelihoods."""

    def trains_on(self, weights: torch.Tensor) -> torch.Tensor:
        """[B, K] bool: the completions whose log-likelihood the loss needs (weight != 0)."""
        return weights != 0

    def loss(self, seq_logps: torch.Tensor, weights: torch.Tensor, prompts: int) -> torch.Tensor:
        """``seq_logps`` and ``weights`` [M] of the trained completions, of ``prompts`` prompts -> scalar."""
        total = -(weights * seq_logps).sum()
        return total / prompts if self.reduction == "mean" else total


class RGRL(Objective):
    name = "rgrl"

    def weights(self, rewards):
        return torch.full_like(rewards, 1.0 / rewards.shape[1])


class RewardWeighted(Objective):
    name = "reward_weighted"

    def __init__(self, *, eps: float = 1e-4, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        require_positive(eps, "objective.loss.eps", float)
        self.eps = float(eps)

    def weights(self, rewards):
        k = rewards.shape[1]
        if k < 2:
            raise ValueError(
                "objective=reward_weighted normalizes rewards over K completions; set samples_per_prompt >= 2"
            )
        mean = rewards.mean(dim=1, keepdim=True)
        std = rewards.std(dim=1, keepdim=True)
        return (rewards - mean) / (std + self.eps) / k


class BestOfKSFT(Objective):
    name = "bon_sft"

    def weights(self, rewards):
        best = rewards.argmax(dim=1)  # the first maximum on ties
        return torch.nn.functional.one_hot(best, rewards.shape[1]).to(rewards.dtype)
