"""Timesteps and the number of positions committed per denoising step."""

from __future__ import annotations

import torch


def timesteps(steps: int, eps: float = 1e-3, device=None) -> torch.Tensor:
    """``linspace(1, eps, steps + 1)`` in float32, as Dream's sampler. -> [T+1]."""
    return torch.linspace(1.0, eps, steps + 1, device=device)


def commit_counts(n_masked: torch.Tensor, t: torch.Tensor, s: torch.Tensor, last: bool) -> torch.Tensor:
    """Positions to unmask per trajectory going from time ``t`` to ``s``.

    ``floor(n_masked * (1 - s / t))``; every remaining masked position at the last step.
    [N] int -> [N] int.
    """
    if last:
        return n_masked
    return torch.floor(n_masked.float() * (1.0 - s / t)).long()
