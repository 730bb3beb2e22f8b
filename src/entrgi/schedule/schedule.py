"""The denoising schedule: timesteps, token sampling and the commit rule of one step."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from entrgi import rng
from entrgi.schedule.confidence import CONFIDENCE, ConfidenceInputs, check_alg
from entrgi.schedule.sampling import TokenSampler
from entrgi.schedule.timesteps import commit_counts, timesteps

# Random-draw purposes, folded into the keyed RNG counter (see ``draw_id``).
DRAW_TOKENS, DRAW_POSITIONS, DRAW_GUIDANCE = 0, 1, 2


def draw_id(step: int, purpose: int, inner: int = 0) -> int:
    """A distinct RNG counter for each (denoising step, purpose, inner step)."""
    return (step * 8 + purpose) * 4096 + inner


@dataclass
class StepOutput:
    tokens: torch.Tensor  # [N, L] response tokens after the commit
    committed: torch.Tensor  # [N, L] bool, positions committed at this step
    sampled: torch.Tensor  # [N, L] the sampled candidates (committed or not)


class DenoisingSchedule:
    """Timesteps ``linspace(1, eps, T+1)``, temperature / top-p / top-k sampling, and commits.

    At step t -> s each trajectory commits ``floor(n_masked * (1 - s/t))`` masked positions
    (all remaining at the last step), chosen by the confidence algorithm ``alg`` (top-k, or
    sampled without replacement from ``softmax(confidence / alg_temp)`` when ``alg_temp > 0``).
    With ``eos_deprioritize`` positions whose sample is a stop token rank last.
    """

    def __init__(
        self,
        steps: int,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        alg: str = "entropy",
        alg_temp: float = 0.0,
        eps: float = 1e-3,
        eos_deprioritize: bool = True,
    ):
        if not (isinstance(steps, int) and steps > 0):
            raise ValueError(f"schedule.steps (T) must be a positive integer, got {steps!r}")
        if not (isinstance(max_new_tokens, int) and max_new_tokens > 0):
            raise ValueError(f"schedule.max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        if not (0.0 < eps < 1.0):
            raise ValueError(f"schedule.eps must lie in (0, 1), got {eps!r}")
        if alg_temp is None or alg_temp < 0:
            raise ValueError(f"schedule.alg_temp must be >= 0 (0 = deterministic top-k), got {alg_temp!r}")
        self.steps = steps
        self.max_new_tokens = max_new_tokens
        self.sampler = TokenSampler(temperature, top_p, top_k)
        self.alg = check_alg(alg)
        self.alg_temp = float(alg_temp)
        self.eps = float(eps)
        self.eos_deprioritize = eos_deprioritize

    def timesteps(self, device=None) -> torch.Tensor:
        return timesteps(self.steps, self.eps, device)

    def step(
        self,
        step: int,
        ts: torch.Tensor,
        tokens: torch.Tensor,
        masked: torch.Tensor,
        phi: torch.Tensor,
        pre_log_probs: torch.Tensor,
        keys: torch.Tensor,
        stop_ids: torch.Tensor,
        log_probs: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        count: int | None = None,
    ) -> StepOutput:
        """Sample candidates from ``phi`` and commit some masked positions.

        tokens/masked [N, L]; phi/pre_log_probs [N, W, V]; keys [N]; stop_ids [S].
        ``log_probs`` may pass ``sampler.log_probs(phi)`` when it is already computed.
        ``W = L`` (every response position), or, with ``positions`` [N, G] (each row's masked
        positions in increasing order, all rows with the same number G of masked positions), the
        vocabulary-sized inputs cover only those positions and ``count`` (a host int, the number to
        commit) replaces the device-side count; the result is the same as with all positions.
        """
        n, length = tokens.shape
        last = step == self.steps - 1
        t, s = ts[step], ts[step + 1]
        if log_probs is None:
            log_probs = self.sampler.log_probs(phi)
        if positions is None:
            def at(x: torch.Tensor) -> torch.Tensor:
                return x
            masked_at = masked
        else:
            if self.alg == "origin":
                raise ValueError("schedule.step(positions=...) needs a confidence algorithm, not alg='origin' "
                                 "(its per-position coin flips leave trajectories with different masked counts)")
            def at(x: torch.Tensor) -> torch.Tensor:
                return x.gather(1, positions)
            masked_at = torch.ones_like(positions, dtype=torch.bool)
        width = masked_at.shape[1]
        u_tok = at(rng.uniform(keys, draw_id(step, DRAW_TOKENS), length))  # [N, W], keyed by response position
        sampled = self.sampler.draw(log_probs, u_tok)

        if self.alg == "origin":
            u_pos = rng.uniform(keys, draw_id(step, DRAW_POSITIONS), length)
            commit = masked if last else masked & (u_pos < (1.0 - s / t))
        else:
            conf = CONFIDENCE[self.alg](ConfidenceInputs(sampled, log_probs, phi, pre_log_probs))  # [N, W]
            if self.alg_temp > 0:
                # Gumbel-top-k == sampling positions without replacement from softmax(conf / alg_temp).
                u_pos = at(rng.uniform(keys, draw_id(step, DRAW_POSITIONS), length, dtype=torch.float64))
                gumbel = -torch.log(-torch.log(u_pos.clamp_min(1e-12)))
                conf = conf.double() / self.alg_temp + gumbel
            conf = conf.double()
            if self.eos_deprioritize:
                is_stop = torch.isin(sampled, stop_ids)
                conf = torch.where(is_stop, torch.full_like(conf, -1e300), conf)
            conf = conf.masked_fill(~masked_at, float("-inf"))
            order = torch.argsort(conf, dim=-1, descending=True, stable=True)
            rank = torch.empty_like(order).scatter_(-1, order, torch.arange(width, device=order.device).expand(n, -1))
            if count is None:
                count = commit_counts(masked_at.sum(-1), t, s, last)[:, None]  # [N, 1]
            commit = masked_at & (rank < count)
        if positions is None:
            return StepOutput(torch.where(commit, sampled, tokens), commit, sampled)
        current = tokens.gather(1, positions)
        return StepOutput(tokens.scatter(1, positions, torch.where(commit, sampled, current)),
                          torch.zeros_like(masked).scatter(1, positions, commit),
                          tokens.scatter(1, positions, sampled))

    def commit_plan(self, length: int) -> list[int]:
        """Positions committed at each step when all ``length`` response positions start masked.

        The same for every trajectory under a confidence algorithm (not ``origin``), computed on
        the host with the float32 formula of :func:`commit_counts` on CPU timesteps.
        """
        ts = self.timesteps("cpu")
        n, plan = length, []
        for step in range(self.steps):
            c = int(commit_counts(torch.tensor([n]), ts[step], ts[step + 1], step == self.steps - 1)[0])
            plan.append(c)
            n -= c
        return plan
