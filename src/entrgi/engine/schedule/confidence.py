"""Confidence algorithms: which masked positions a denoising step commits first.

Each algorithm maps a :class:`ConfidenceInputs` to a score per position, higher = commit
earlier. ``origin`` is the exception: it commits each masked position independently with
probability ``1 - s/t`` and is handled by ``DenoisingSchedule.choose``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class ConfidenceInputs:
    """One chunk of R (trajectory, position) rows."""

    tokens: torch.Tensor  # [R] sampled ids
    log_probs: torch.Tensor  # [R, V] filtered log-probs of the (guided) logits at tau
    phi: torch.Tensor  # [R, V] guided logits (equal to the dLLM logits without guidance)
    pre: torch.Tensor | None  # [R] the algorithm's statistic of the pre-guidance logits (see PRE_GUIDANCE)


def _maskgit_plus(x: ConfidenceInputs) -> torch.Tensor:
    return x.log_probs.gather(-1, x.tokens[..., None]).squeeze(-1).exp()


def _topk_margin(x: ConfidenceInputs) -> torch.Tensor:
    top2 = torch.topk(x.log_probs, 2, dim=-1).values.exp()
    return top2[..., 0] - top2[..., 1]


def _entropy(x: ConfidenceInputs) -> torch.Tensor:
    return x.pre


def negative_entropy(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """sum p log p of softmax(logits / temperature), unfiltered (no top-p / top-k). [R, V] -> [R]."""
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    return (logp.exp() * logp).sum(-1)


def filtered_negative_entropy(log_probs: torch.Tensor) -> torch.Tensor:
    """sum p log p of the filtered distribution (``TokenSampler.log_probs``), 0 log 0 = 0. [R, V] -> [R]."""
    return torch.where(torch.isneginf(log_probs), 0.0, log_probs.exp() * log_probs).sum(-1)


def _anchor(x: ConfidenceInputs) -> torch.Tensor:
    return x.phi.float().gather(-1, x.tokens[..., None]).squeeze(-1)


# Statistics of the pre-guidance logits an algorithm ranks by, computed before guidance changes
# them: ``entropy`` ranks by the negative entropy of softmax(logits / tau) without the top-p
# filter, as the authors' guided script does ...
PRE_GUIDANCE: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {"entropy": negative_entropy}
# ... or, under ``schedule.entropy_filter``, of the top-k / top-p filtered distribution (given as its
# log-probabilities), as the authors' best-of-N script does.
FILTERED_PRE_GUIDANCE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"entropy": filtered_negative_entropy}

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


CONFIDENCE: dict[str, Callable[[ConfidenceInputs], torch.Tensor] | None] = {
    "origin": None,
    "maskgit_plus": _maskgit_plus,
    "topk_margin": _topk_margin,
    "entropy": _entropy,
    "anchor": _anchor,
}


def check_alg(alg: str) -> str:
    if alg not in CONFIDENCE:
        raise ValueError(f"schedule.alg={alg!r} is not a confidence algorithm; choose one of {sorted(CONFIDENCE)}")
    return alg
