"""Confidence rules (``schedule.alg``): which masked positions a denoising step commits first.

Each rule is a :class:`ConfidenceRule` (``spec`` its ``schedule.alg`` name) that maps a :class:`ConfidenceInputs`
to a score per position, higher = commit earlier, and may rank by a statistic of the pre-guidance logits.
``origin`` is the exception (``per_position``): it commits each masked position independently with
probability ``1 - s/t`` (``DenoisingSchedule.choose``) and has no score.
"""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass

import torch

from entrgi.engine.plugins import names, resolve


@dataclass
class ConfidenceInputs:
    """One chunk of R (trajectory, position) rows."""

    tokens: torch.Tensor  # [R] sampled ids
    log_probs: torch.Tensor  # [R, V] filtered log-probs of the (guided) logits at tau
    phi: torch.Tensor  # [R, V] guided logits (equal to the dLLM logits without guidance)
    pre: torch.Tensor | None  # [R] the rule's pre-guidance statistic (ConfidenceRule.pre_guidance)


def negative_entropy(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """sum p log p of softmax(logits / temperature), unfiltered (no top-p / top-k). [R, V] -> [R]."""
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return (logp.exp() * logp).sum(-1)


def filtered_negative_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """sum p log p of the filtered distribution (``TokenSampler.log_probs``), 0 log 0 = 0. [R, V] -> [R]."""
    return torch.where(torch.isneginf(log_probs), 0.0, log_probs.exp() * log_probs).sum(-1)


# ``schedule.entropy_filter``: none (unfiltered), filtered, authors (filtered when unguided, else none)
ENTROPY_FILTERS = ("none", "filtered", "authors")


def uses_filtered_statistic(entropy_filter: str, guided: bool | None) -> bool:
    """Whether the pre-guidance statistic is taken on the filtered distribution. ``guided``: whether
    the run's guidance uses the reward (``Guidance.requires_reward``); needed only for ``authors``."""
    if entropy_filter == "authors":
        if guided is None:
            raise ValueError(
                "schedule.entropy_filter='authors' depends on whether the run is guided: pass "
                "pre_guidance(logits, guided=guidance.requires_reward)"
            )
        return not guided
    return entropy_filter == "filtered"


class ConfidenceRule(ABC):
    """One ``schedule.alg``: ``score`` ranks a chunk's positions; ``pre_guidance`` / ``filtered_pre_guidance`` give
    the statistic of the pre-guidance logits it ranks by (None: it ranks by the guided logits only)."""

    spec: str
    per_position: bool = False  # commits by a coin flip per position: no score, no gathered positions
    uses_pre: bool = False  # ranks by a statistic of the pre-guidance logits (pre_guidance)

    def score(self, x: ConfidenceInputs) -> torch.Tensor:
        """[R] confidences of one chunk of rows (float; higher commits earlier)."""
        raise NotImplementedError(f"schedule.alg={self.spec!r} commits per position and has no score")

    def pre_guidance(self, logits: torch.Tensor, temperature: float) -> torch.Tensor | None:
        """[R, V] pre-guidance logits -> [R] statistic, or None when the rule does not use one."""
        return None

    def filtered_pre_guidance(self, log_probs: torch.Tensor) -> torch.Tensor | None:
        """The same statistic of the filtered distribution (``schedule.entropy_filter``), or None."""
        return None


class OriginRule(ConfidenceRule):
    """Dream's ``origin``: each masked position commits with probability 1 - s/t."""

    spec, per_position = "origin", True


class MaskGitPlusRule(ConfidenceRule):
    """The probability of the sampled token."""

    spec = "maskgit_plus"

    def score(self, x):
        return x.log_probs.gather(-1, x.tokens[..., None]).squeeze(-1).exp()


class TopKMarginRule(ConfidenceRule):
    """The margin between the two most likely tokens."""

    spec = "topk_margin"

    def score(self, x):
        top2 = torch.topk(x.log_probs, 2, dim=-1).values.exp()
        return top2[..., 0] - top2[..., 1]


class EntropyRule(ConfidenceRule):
    """The negative entropy of the pre-guidance distribution: unfiltered, as the authors' guided script
    does, or (``schedule.entropy_filter``) of the top-k / top-p filtered one, as their best-of-N script does."""

    spec, uses_pre = "entropy", True

    def score(self, x):
        return x.pre

    def pre_guidance(self, logits, temperature):
        return negative_entropy(logits, temperature)

    def filtered_pre_guidance(self, log_probs):
        return filtered_negative_entropy(log_probs)


class AnchorRule(ConfidenceRule):
    """The guided logit of the sampled token."""

    spec = "anchor"

    def score(self, x):
        return x.phi.float().gather(-1, x.tokens[..., None]).squeeze(-1)


def confidence_rules() -> list[str]:
    """The names ``schedule.alg`` accepts."""
    return names(ConfidenceRule)


def check_alg(alg: str | ConfidenceRule) -> ConfidenceRule:
    return resolve(ConfidenceRule, alg, "schedule.alg")
