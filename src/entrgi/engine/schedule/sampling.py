"""Token sampling: temperature, top-k, top-p, drawn by inverse CDF from keyed uniforms."""

from __future__ import annotations

import torch

from entrgi.engine.checks import require_choice, require_optional_positive, require_positive, require_range
from entrgi.engine.schedule.top_p import top_p_keep

# The order of the two filters when both are set (``schedule.filter_order``):
# ``top_k_first``: top_p(top_k(p)), the transformers order (the top-p nucleus of the renormalized top k);
# ``top_p_first``: top_k(top_p(p)), the authors' order (the nucleus of the full distribution, cut to k).
FILTER_ORDERS = ("top_k_first", "top_p_first")


class TokenSampler:
    """Samples tokens from the top-k / top-p filtered ``softmax(logits / temperature)``.

    Randomness comes in as uniforms (one per position, see :mod:`entrgi.engine.rng`), so sampling is
    a pure batched function: no generator state, no per-row loop.
    """

    def __init__(
        self,
        temperature: float = 1.0,
        *,
        top_p: float = 1.0,
        top_k: int | None = None,
        filter_order: str = "top_k_first",
    ):
        require_positive(temperature, "schedule.temperature (tau)", kind=float)
        require_range(top_p, "schedule.top_p", 0.0, 1.0, low_open=True, hint="use 1.0 to disable top-p")
        require_optional_positive(top_k, "schedule.top_k")
        require_choice(
            filter_order, "schedule.filter_order", FILTER_ORDERS, hint="the order of top-k and top-p when both are set"
        )
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.top_k = top_k
        self.filter_order = filter_order

    def scale(self, logits: torch.Tensor) -> torch.Tensor:
        """logits / temperature in fp32. [..., V] -> [..., V]."""
        return logits.float() / self.temperature

    def log_probs(self, logits: torch.Tensor, scaled: torch.Tensor | None = None) -> torch.Tensor:
        """Filtered log-probabilities (``-inf`` outside the support). [..., V] -> [..., V] fp32.

        ``scaled`` may pass ``self.scale(logits)`` when it is already computed (it is not modified)."""
        z = self.scale(logits) if scaled is None else scaled
        if self.filter_order == "top_p_first" and self.top_p < 1.0 and self._cuts_k(z):
            # the nucleus of the full distribution, then the k largest logits of it, renormalized
            drop = self._outside_top_p(torch.log_softmax(z, dim=-1))
            return torch.log_softmax(self._top_k(z.masked_fill(drop, float("-inf"))), dim=-1)
        if self._cuts_k(z):
            z = self._top_k(z)
        logp = torch.log_softmax(z, dim=-1)
        if self.top_p < 1.0:  # the nucleus of the (top-k) distribution
            logp = torch.log_softmax(logp.masked_fill_(self._outside_top_p(logp), float("-inf")), dim=-1)
        return logp

    def _cuts_k(self, z: torch.Tensor) -> bool:
        return self.top_k is not None and self.top_k < z.shape[-1]

    def _top_k(self, z: torch.Tensor) -> torch.Tensor:
        """``-inf`` below the k-th largest value (ties with it stay). Out of place."""
        kth = torch.topk(z, self.top_k, dim=-1).values[..., -1:]
        return z.masked_fill(z < kth, float("-inf"))

    def _outside_top_p(self, logp: torch.Tensor) -> torch.Tensor:
        """The tokens outside the exact top-p support of normalized ``logp`` (sort-free: ``schedule/top_p.py``)."""
        return top_p_keep(logp.exp().view(-1, logp.shape[-1]), self.top_p).view(logp.shape).logical_not_()

    @staticmethod
    def draw(log_probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """Inverse-CDF draw: [..., V] log-probs and [...] uniforms in [0, 1) -> [...] token ids."""
        cdf = log_probs.exp().cumsum(-1)  # [..., V]
        target = (uniforms.to(cdf.dtype) * cdf[..., -1]).unsqueeze(-1)
        idx = torch.searchsorted(cdf, target, right=True).squeeze(-1)
        return idx.clamp_(max=log_probs.shape[-1] - 1)
