"""Resampling K particles of each prompt from normalized weights, with keyed uniforms (no host sync).

Both take weights ``w`` [B, K] (rows sum to 1) and uniforms, and return ancestor indices [B, K]
within each row. Arithmetic in float64 so that equal weights 1/K map slot i to itself exactly under
systematic resampling (the cumulative sums stay ordered against the positions (i + u) / K).
"""

from __future__ import annotations

import torch

METHODS = ("multinomial", "systematic")


def _search(weights: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """For each point in [0, 1) the first index whose cumulative weight exceeds it."""
    cdf = torch.cumsum(weights.double(), dim=-1)
    cdf = cdf / cdf[:, -1:]  # exactly 1 at the end
    idx = torch.searchsorted(cdf, points.double().contiguous(), right=True)
    return idx.clamp_(max=weights.shape[-1] - 1)


def multinomial(weights: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """K independent draws per row: ``uniforms`` [B, K] in [0, 1)."""
    return _search(weights, uniforms)


def systematic(weights: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """One stratified comb per row: points (i + u) / K, ``uniform`` [B] in [0, 1)."""
    k = weights.shape[-1]
    points = (torch.arange(k, device=weights.device, dtype=torch.float64) + uniform.double()[:, None]) / k
    return _search(weights, points)


def effective_sample_size(log_weights: torch.Tensor) -> torch.Tensor:
    """1 / sum(w^2) of the normalized weights of each row: [B, K] log-weights -> [B], in [1, K]."""
    w = torch.softmax(log_weights, dim=-1)
    return 1.0 / (w * w).sum(-1)
