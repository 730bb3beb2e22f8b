"""Log-likelihood of a completion under a masked dLLM, two estimators (``objective.estimator``).

Both return per-token contributions [N, L] (zero outside ``Completions.mask``) whose sum over a row
estimates the completion's log-likelihood; the objectives divide it by the completion length.

- ``OneStepEstimator`` (d1 / diffu-GRPO, the authors' RGRL): every response token masked, each
  attended prompt token masked with probability ``p_mask_prompt``, one forward;
  ``log p(x_i | prompt, all masked)`` at every counted response position.
- ``ElboEstimator``: the masked-diffusion ELBO. Per draw a ratio ``t ~ U(eps, 1)`` per sequence, each
  response token masked with probability t, ``(1/t) log p(x_i | x_t)`` summed over the masked
  counted tokens; averaged over ``draws`` draws. Its expectation over t ~ U(0, 1) is the ELBO of
  MDLM / LLaDA; ``eps`` bounds the 1/t weight (the variance), as their training code does.

Every draw is keyed (``entrgi.engine.rng``) by the completion's key and counted from the start of its
own prompt, so an estimate does not depend on the batch, its padding, or the process that runs it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F

from entrgi.engine import rng
from entrgi.engine.checks import require_positive
from entrgi.engine.models.base import DiffusionLM
from entrgi.engine.posttrain.completions import Completions

_T, _RESPONSE, _PROMPT = 0, 1, 2  # inner draw ids: the masking ratio, the response mask, the prompt mask


def _check_probability(value: float, key: str, upper_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value <= 1.0
    if not ok or (upper_open and value >= 1.0):
        raise ValueError(f"{key} must be in [0, 1{')' if upper_open else ']'}, got {value!r}")


def mask_prompt(c: Completions, mask_id: int, p: float, draw: int) -> torch.Tensor:
    """The prompt ids with each attended token masked with probability ``p`` -> [N, P]."""
    prompt = c.tokens[:, : c.prompt_len]
    if p <= 0.0:
        return prompt
    pad = (~c.prompt_attention).long().cumsum(-1)[:, -1:]  # [N, 1] left padding
    rel = (torch.arange(c.prompt_len, device=prompt.device)[None, :] - pad).clamp(min=0)  # [N, P]
    u = rng.uniform_at(c.keys, rng.draw_id(draw, rng.DRAW_LOGLIK, _PROMPT), rel)
    return prompt.masked_fill(c.prompt_attention & (u < p), mask_id)


def token_logps(lm: DiffusionLM, noisy: torch.Tensor, attention: torch.Tensor, c: Completions) -> torch.Tensor:
    """log p(response token | noisy canvas) at every response position: [N, L] fp32, with autograd."""
    logits = lm.train_logits(noisy, attention, c.prompt_len)  # [N, L, V]
    targets = c.response
    return -F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none").view(
        targets.shape
    )


class LogLikEstimator(ABC):
    """Per-token log-likelihood contributions of completions; see the module docstring."""

    name: str

    def __init__(self, *, p_mask_prompt: float, attend_past_stop: bool):
        _check_probability(p_mask_prompt, f"objective.{self.name}.p_mask_prompt", upper_open=True)
        self.p_mask_prompt = float(p_mask_prompt)
        self.attend_past_stop = bool(attend_past_stop)

    @abstractmethod
    def token_logps(self, lm: DiffusionLM, c: Completions) -> torch.Tensor:
        """[N, L] contributions, zero outside ``c.mask``; differentiable in the trainable parameters."""

    def sequence_logps(self, lm: DiffusionLM, c: Completions) -> torch.Tensor:
        """[N]: the contributions summed over each completion, divided by its length (the authors'
        per-sequence normalization)."""
        return self.token_logps(lm, c).sum(-1) / c.lengths


class OneStepEstimator(LogLikEstimator):
    """d1's one-step estimate (``objective.estimator=one_step``)."""

    name = spec = "one_step"

    def __init__(self, *, p_mask_prompt: float = 0.3, attend_past_stop: bool = False):
        super().__init__(p_mask_prompt=p_mask_prompt, attend_past_stop=attend_past_stop)

    def token_logps(self, lm, c):
        prompt = mask_prompt(c, lm.mask_token_id, self.p_mask_prompt, draw=0)
        noisy = torch.cat([prompt, torch.full_like(c.response, lm.mask_token_id)], dim=1)
        return token_logps(lm, noisy, c.attention(self.attend_past_stop), c) * c.mask


class ElboEstimator(LogLikEstimator):
    """The masked-diffusion ELBO (``objective.estimator=elbo``), ``draws`` forwards per completion."""

    name = spec = "elbo"

    def __init__(
        self, *, draws: int = 1, eps: float = 1e-3, p_mask_prompt: float = 0.0, attend_past_stop: bool = False
    ):
        super().__init__(p_mask_prompt=p_mask_prompt, attend_past_stop=attend_past_stop)
        require_positive(draws, "objective.elbo.draws")
        _check_probability(eps, "objective.elbo.eps", upper_open=True)
        self.draws, self.eps = int(draws), float(eps)

    def ratios(self, c: Completions, draw: int) -> torch.Tensor:
        """[N] masking ratios t ~ U(eps, 1) of one draw."""
        u = rng.uniform(c.keys, rng.draw_id(draw, rng.DRAW_LOGLIK, _T), 1)[:, 0]
        return self.eps + (1.0 - self.eps) * u

    def masked(self, c: Completions, t: torch.Tensor, draw: int) -> torch.Tensor:
        """[N, L] bool: the response positions masked at ratio ``t``."""
        u = rng.uniform(c.keys, rng.draw_id(draw, rng.DRAW_LOGLIK, _RESPONSE), c.mask.shape[1])
        return u < t[:, None]

    def token_logps(self, lm, c):
        attention = c.attention(self.attend_past_stop)
        total = torch.zeros(c.mask.shape, device=c.tokens.device)
        for draw in range(self.draws):
            t = self.ratios(c, draw)
            masked = self.masked(c, t, draw)
            prompt = mask_prompt(c, lm.mask_token_id, self.p_mask_prompt, draw)
            noisy = torch.cat([prompt, c.response.masked_fill(masked, lm.mask_token_id)], dim=1)
            lp = token_logps(lm, noisy, attention, c)
            total = total + torch.where(masked & c.mask, lp / t[:, None], 0.0)
        return total / self.draws
