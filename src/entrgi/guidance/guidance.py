"""Guidance: turn the dLLM logits at masked positions into reward-optimized logits phi.

``GradientGuidance`` runs M Adam steps on phi (fp32) to maximize the reward of
``e_hat = e_soft + stopgrad(w * (e_hard - e_soft))`` at masked positions, with
``e_soft = softmax(phi / tau) @ E_R``, ``e_hard = E_R[x]``, ``x ~ top_p(softmax(phi / tau))``
redrawn each inner step, and ``w`` from a :mod:`weight policy <entrgi.guidance.weights>`.
Unmasked positions use ``E_R[token]``. ``NoGuidance`` returns the logits unchanged (BoN).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from entrgi import rng
from entrgi.guidance.objective import RewardObjective
from entrgi.guidance.weights import WeightPolicy, parse_weight
from entrgi.schedule.sampling import TokenSampler
from entrgi.schedule.schedule import DRAW_GUIDANCE, draw_id

NORMALIZATIONS = ("log_vocab", "log_support")


@dataclass
class GuidanceStats:
    """Per trajectory [N], on device."""

    w_mean: torch.Tensor
    w_min: torch.Tensor
    w_max: torch.Tensor
    reward_before: torch.Tensor  # soft reward at the first inner step
    reward_after: torch.Tensor  # soft reward of the optimized logits (nan when not tracked)
    log_probs: torch.Tensor | None = None  # [N, L, V] sampler.log_probs(phi) of the returned phi, when computed


def masked_stats(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean / min / max of x [N, L] over mask [N, L] per row; nan for rows with nothing masked."""
    count = mask.sum(-1)
    nan = torch.full_like(x[:, 0], float("nan"))
    mean = torch.where(count > 0, (x * mask).sum(-1) / count.clamp_min(1), nan)
    lo = torch.where(count > 0, x.masked_fill(~mask, float("inf")).amin(-1), nan)
    hi = torch.where(count > 0, x.masked_fill(~mask, float("-inf")).amax(-1), nan)
    return mean, lo, hi


def normalized_entropy(phi: torch.Tensor, normalization: str = "log_vocab",
                       support_log_probs: torch.Tensor | None = None) -> torch.Tensor:
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


class _Adam:
    """Adam (PyTorch's defaults) on one tensor, with the step count on the host.

    ``torch.optim.Adam`` reads its step tensor with ``.item()`` (a device sync per inner step)
    unless ``capturable``, which CPU tensors do not support; this keeps the loop sync-free.
    """

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.lr, self.betas, self.eps = param, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros_like(param)
        self.t = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.t += 1
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = (self.v / (1 - b2 ** self.t)).sqrt_().add_(self.eps)
        self.param.addcdiv_(self.m, denom, value=-self.lr / (1 - b1 ** self.t))


class Guidance(ABC):
    requires_reward: bool = True
    name: str
    weight: WeightPolicy | None = None

    @abstractmethod
    def optimize(self, logits: torch.Tensor, tokens: torch.Tensor, masked: torch.Tensor,
                 objective: RewardObjective | None, sampler: TokenSampler, keys: torch.Tensor,
                 step: int, log_probs: torch.Tensor | None = None,
                 positions: torch.Tensor | None = None) -> tuple[torch.Tensor, GuidanceStats | None]:
        """logits [N, W, V] (fp32), tokens/masked [N, L], keys [N] -> (phi [N, W, V], stats).

        ``W = L``, or with ``positions`` [N, G] the logits cover only those (masked) response
        positions, in that order. ``log_probs`` may pass ``sampler.log_probs(logits)``.
        """


class NoGuidance(Guidance):
    """Unguided sampling; with K trajectories and best-by-reward selection this is Best-of-N."""

    requires_reward = False
    name = "bon"

    def optimize(self, logits, tokens, masked, objective, sampler, keys, step, log_probs=None, positions=None):
        return logits, None


class GradientGuidance(Guidance):
    """Reward-gradient guidance on the logits (Expectation, APS, EntRGi, ablations)."""

    def __init__(self, weight: str | float | WeightPolicy = "entropy", inner_steps: int = 3, lr: float = 0.5,
                 normalization: str = "log_vocab", fp32: bool = True, track_final_reward: bool = True):
        if not (isinstance(inner_steps, int) and not isinstance(inner_steps, bool) and inner_steps > 0):
            raise ValueError(f"guidance.inner_steps (M) must be a positive integer, got {inner_steps!r}; "
                             "use guidance=bon for no optimization")
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"guidance.lr (eta) must be a positive number, got {lr!r}")
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"guidance.normalization={normalization!r}; choose one of {list(NORMALIZATIONS)}")
        self.weight = parse_weight(weight)
        self.inner_steps = inner_steps
        self.lr = float(lr)
        self.normalization = normalization
        self.fp32 = fp32
        self.track_final_reward = track_final_reward

    @property
    def name(self) -> str:
        """The method's name in outputs: expectation / aps / entrgi, or ``w=<spec>`` for ablations."""
        return {"zero": "expectation", "one": "aps", "entropy": "entrgi"}.get(self.weight.spec, f"w={self.weight.spec}")

    def _embed(self, phi, tokens, masked, objective, sampler, u, logp=None, positions=None):
        """e_hat at masked positions, E_R[token] elsewhere. Returns (embeds, w, argmax-filled tokens, logp).

        phi [N, W, V] and u [N, W] cover every response position (W = L) or only ``positions``.
        ``logp`` may pass ``sampler.log_probs(phi)`` when it is already known (it is the top-p sort,
        the most expensive op of an inner step on CPU).
        """
        with torch.no_grad():
            if logp is None:
                logp = sampler.log_probs(phi.detach())  # [N, W, V] filtered at tau
            hard = sampler.draw(logp, u)  # [N, W]
            h = (normalized_entropy(phi, self.normalization, logp) if self.weight.uses_entropy
                 else torch.zeros(phi.shape[:-1], device=phi.device))
            w = self.weight(h)  # [N, W]
        e_soft = objective.soft(torch.softmax(phi / sampler.temperature, dim=-1))  # [N, W, D]
        e_hard = objective.hard(hard)
        e_hat = e_soft + (w[..., None].to(e_soft.dtype) * (e_hard - e_soft)).detach()
        e_fixed = objective.hard(tokens)
        if positions is None:
            embeds = torch.where(masked[..., None], e_hat, e_fixed)
            current = torch.where(masked, phi.detach().argmax(-1), tokens)  # locates the first stop token
        else:
            embeds = e_fixed.scatter(1, positions[..., None].expand(-1, -1, e_hat.shape[-1]), e_hat)
            current = tokens.scatter(1, positions, phi.detach().argmax(-1))
        return embeds, w, current, logp

    def optimize(self, logits, tokens, masked, objective, sampler, keys, step, log_probs=None, positions=None):
        length = tokens.shape[1]

        def uniforms(draw: int) -> torch.Tensor:  # keyed by response position
            u = rng.uniform(keys, draw, length)
            return u if positions is None else u.gather(1, positions)

        phi = (logits.float() if self.fp32 else logits).detach().clone().requires_grad_(True)
        adam = _Adam(phi, self.lr)
        reward_before = w = None
        with torch.enable_grad():
            for m in range(self.inner_steps):
                u = uniforms(draw_id(step, DRAW_GUIDANCE, m))
                # at m = 0, phi equals the logits: reuse their filtered log-probs
                embeds, w, current, _ = self._embed(phi, tokens, masked, objective, sampler, u,
                                                    log_probs if m == 0 else None, positions)
                reward = objective.score(embeds, current)  # [N]
                if m == 0:
                    reward_before = reward.detach()
                # sum: each trajectory's phi sees only its own reward
                (grad,) = torch.autograd.grad(-reward.sum(), phi)
                adam.step(grad)
        phi = phi.detach()
        final_log_probs = None
        if self.track_final_reward:
            with torch.no_grad():
                u = uniforms(draw_id(step, DRAW_GUIDANCE, self.inner_steps))
                embeds, _, current, final_log_probs = self._embed(phi, tokens, masked, objective, sampler, u,
                                                                  positions=positions)
                reward_after = objective.score(embeds, current)
        else:
            reward_after = torch.full_like(reward_before, float("nan"))
        w_mean, w_min, w_max = masked_stats(w, masked if positions is None else torch.ones_like(w, dtype=torch.bool))
        return phi, GuidanceStats(w_mean, w_min, w_max, reward_before, reward_after, final_log_probs)
