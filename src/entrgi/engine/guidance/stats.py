"""Per-trajectory statistics over positions, and the normalized entropy the denoiser and EntRGi's w share."""

from __future__ import annotations

import math

import torch


def masked_stats(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean / min / max of x [N, L] over mask [N, L] per row; nan for rows with nothing masked."""
    count = mask.sum(-1)
    nan = torch.full_like(x[:, 0], float("nan"))
    mean = torch.where(count > 0, (x * mask).sum(-1) / count.clamp_min(1), nan)
    lo = torch.where(count > 0, x.masked_fill(~mask, float("inf")).amin(-1), nan)
    hi = torch.where(count > 0, x.masked_fill(~mask, float("-inf")).amax(-1), nan)
    return mean, lo, hi


def normalized_entropy(
    phi: torch.Tensor, normalization: str = "log_vocab", support_log_probs: torch.Tensor | None = None
) -> torch.Tensor:
    """H(softmax(phi)) at temperature 1, normalized to [0, 1]. [N, L, V] -> [N, L].

    ``log_vocab`` divides by log V (the paper); ``log_support`` by the log of the top-p support
    size of ``support_log_probs`` (w = 0 where the support is a single token).
    """
    logp = torch.log_softmax(phi.float(), dim=-1)
    h = -(logp.exp() * logp).sum(-1)
    if normalization == "log_vocab":
        return h / math.log(phi.shape[-1])
    size = torch.isfinite(support_log_probs).sum(-1).float()
    return torch.where(size > 1, h / size.clamp_min(2).log(), torch.zeros_like(h)).clamp(0.0, 1.0)
