"""Token sampling: temperature, top-k, top-p, drawn by inverse CDF from keyed uniforms."""

from __future__ import annotations

import torch

from entrgi.checks import require_optional_positive, require_positive, require_range
from entrgi.schedule.top_p import top_p_keep


class TokenSampler:
    """Samples tokens from ``top_p(top_k(softmax(logits / temperature)))``.

    Randomness comes in as uniforms (one per position, see :mod:`entrgi.rng`), so sampling is
    a pure batched function: no generator state, no per-row loop.
    """

    def __init__(self, temperature: float = 1.0, top_p: float = 1.0, top_k: int | None = None):
        require_positive(temperature, "schedule.temperature (tau)", kind=float)
        require_range(top_p, "schedule.top_p", 0.0, 1.0, low_open=True, hint="use 1.0 to disable top-p")
        require_optional_positive(top_k, "schedule.top_k")
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.top_k = top_k

    def scale(self, logits: torch.Tensor) -> torch.Tensor:
        """logits / temperature in fp32. [..., V] -> [..., V]."""
        return logits.float() / self.temperature

    def log_probs(self, logits: torch.Tensor, scaled: torch.Tensor | None = None) -> torch.Tensor:
        """Filtered log-probabilities (``-inf`` outside the support). [..., V] -> [..., V] fp32.

        ``scaled`` may pass ``self.scale(logits)`` when it is already computed."""
        z = self.scale(logits) if scaled is None else scaled
        if self.top_k is not None and self.top_k < z.shape[-1]:
            kth = torch.topk(z, self.top_k, dim=-1).values[..., -1:]
            z = z.masked_fill(z < kth, float("-inf"))
        logp = torch.log_softmax(z, dim=-1)
        if self.top_p < 1.0:  # exact nucleus without a full-vocabulary sort (entrgi.schedule.top_p)
            keep = top_p_keep(logp.exp().view(-1, logp.shape[-1]), self.top_p).view(logp.shape)
            logp = torch.log_softmax(logp.masked_fill_(keep.logical_not_(), float("-inf")), dim=-1)  # both are ours
        return logp

    @staticmethod
    def draw(log_probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """Inverse-CDF draw: [..., V] log-probs and [...] uniforms in [0, 1) -> [...] token ids."""
        cdf = log_probs.exp().cumsum(-1)  # [..., V]
        target = (uniforms.to(cdf.dtype) * cdf[..., -1]).unsqueeze(-1)
        idx = torch.searchsorted(cdf, target, right=True).squeeze(-1)
        return idx.clamp_(max=log_probs.shape[-1] - 1)
