"""The denoising schedule: timesteps, token sampling and the commit rule of one step."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from entrgi.engine.checks import require_choice, require_positive, require_range
from entrgi.engine.positions import StepPositions
from entrgi.engine.rng import DRAW_POSITIONS, DRAW_TOKENS, draw_id
from entrgi.engine.schedule.confidence import (
    ENTROPY_FILTERS,
    ConfidenceInputs,
    ConfidenceRule,
    check_alg,
    uses_filtered_statistic,
)
from entrgi.engine.schedule.sampling import TokenSampler
from entrgi.engine.schedule.timesteps import commit_counts, timesteps

# The confidence of a position whose sample is a stop token under eos_deprioritize: below every finite
# confidence (float64) but above the -inf of positions already committed, so stops are chosen last.
STOP_CONFIDENCE = -1e300


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

    ``filter_order`` (``top_k_first`` | ``top_p_first``): the order of top-k and top-p when both are
    set (:class:`TokenSampler`). ``entropy_filter`` (``none`` | ``filtered`` | ``authors``): whether
    ``alg=entropy`` ranks by the entropy of the unfiltered or of the filtered distribution; ``authors``
    = filtered for an unguided run (best-of-N), unfiltered for a guided one, as in the authors' scripts.
    """

    def __init__(
        self,
        steps: int,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        alg: str | ConfidenceRule = "entropy",
        alg_temp: float = 0.0,
        eps: float = 1e-3,
        eos_deprioritize: bool = True,
        filter_order: str = "top_k_first",
        entropy_filter: str = "none",
    ):
        require_positive(steps, "schedule.steps (T)")
        require_positive(max_new_tokens, "schedule.max_new_tokens")
        require_range(eps, "schedule.eps", 0.0, 1.0, low_open=True, high_open=True)
        require_range(alg_temp, "schedule.alg_temp", 0.0, math.inf, hint="0 = deterministic top-k")
        self.steps = steps
        self.max_new_tokens = max_new_tokens
        require_choice(
            entropy_filter,
            "schedule.entropy_filter",
            ENTROPY_FILTERS,
            hint="none: alg=entropy on the unfiltered distribution; filtered: on the top-k/top-p one; "
            "authors: filtered when unguided (BoN), none when guided",
        )
        self.sampler = TokenSampler(temperature, top_p=top_p, top_k=top_k, filter_order=filter_order)
        self.entropy_filter = entropy_filter
        self.rule = check_alg(alg)  # a ConfidenceRule
        self.alg = self.rule.spec
        self.alg_temp = float(alg_temp)
        self.eps = float(eps)
        self.eos_deprioritize = eos_deprioritize

    def timesteps(self, device=None) -> torch.Tensor:
        return timesteps(self.steps, self.eps, device)

    def pre_guidance(self, logits: torch.Tensor, guided: bool | None = None) -> torch.Tensor | None:
        """The confidence algorithm's statistic of the pre-guidance logits, or None when it
        ranks by the guided logits only. [R, V] -> [R] (call it on chunks of rows).

        ``guided``: whether the run's guidance uses the reward (``Guidance.requires_reward``);
        required under ``entropy_filter='authors'``, ignored otherwise."""
        if not self.rule.uses_pre:
            return None
        if uses_filtered_statistic(self.entropy_filter, guided):
            return self.rule.filtered_pre_guidance(self.sampler.log_probs(logits))
        return self.rule.pre_guidance(logits, self.sampler.temperature)

    def step(
        self,
        at: StepPositions,
        ts: torch.Tensor,
        tokens: torch.Tensor,
        phi: torch.Tensor,
        stop_ids: torch.Tensor,
        pre: torch.Tensor | None = None,
    ) -> StepOutput:
        """Sample candidates from ``phi`` at the covered positions and commit some masked ones.

        tokens [N, L]; phi [N, G, V] at ``at.positions``; stop_ids [S]; ``pre`` [N, G] from
        :meth:`pre_guidance`. Vocabulary-sized work runs in chunks of rows.
        """
        if at.count is not None and self.rule.per_position:
            raise ValueError(
                "schedule.step with gathered masked positions needs a confidence algorithm, not "
                "alg='origin' (its per-position coin flips leave trajectories with different masked counts)"
            )
        sampled, conf = self.sample(at, phi, pre)
        commit = self.choose(at, ts, sampled, conf, stop_ids)
        current = at.gather(tokens)
        return StepOutput(
            at.scatter(tokens, torch.where(commit, sampled, current)),
            at.scatter(torch.zeros_like(tokens, dtype=torch.bool), commit),
            at.scatter(tokens, sampled),
        )

    def sample(
        self, at: StepPositions, phi: torch.Tensor, pre: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """1. Sampling: x ~ top_p / top_k filtered softmax(phi / tau) at each covered position (keyed
        uniforms, inverse CDF), and the confidence ``alg`` gives it (None for ``origin``).
        phi [N, G, V] -> (sampled [N, G], confidence [N, G] float64 or None), chunk by chunk."""
        n, width, vocab = phi.shape
        u_tok = at.uniform(draw_id(at.index, DRAW_TOKENS)).reshape(-1)  # [R]
        rows = phi.reshape(-1, vocab)
        pre_rows = None if pre is None else pre.reshape(-1)
        sampled = torch.empty(rows.shape[0], dtype=torch.long, device=phi.device)
        conf = None if self.rule.per_position else torch.empty(rows.shape[0], dtype=torch.float64, device=phi.device)
        for sl in at.row_chunks(rows.shape[0], vocab):
            log_probs = self.sampler.log_probs(rows[sl])
            sampled[sl] = self.sampler.draw(log_probs, u_tok[sl])
            if conf is not None:
                conf[sl] = self.rule.score(
                    ConfidenceInputs(sampled[sl], log_probs, rows[sl], None if pre_rows is None else pre_rows[sl])
                )
        return sampled.view(n, width), None if conf is None else conf.view(n, width)

    def choose(
        self,
        at: StepPositions,
        ts: torch.Tensor,
        sampled: torch.Tensor,
        conf: torch.Tensor | None,
        stop_ids: torch.Tensor,
    ) -> torch.Tensor:
        """2. Committing, step t -> s: floor(n_masked (1 - s/t)) masked positions per trajectory (all at
        the last step), the most confident first (Gumbel-top-k at ``alg_temp`` > 0; stop-token samples
        last with ``eos_deprioritize``), or for ``origin`` each with probability 1 - s/t. -> [N, G] bool."""
        n, width = sampled.shape
        last = at.index == self.steps - 1
        t, s = ts[at.index], ts[at.index + 1]
        active = at.active
        if self.rule.per_position:
            u_pos = at.uniform(draw_id(at.index, DRAW_POSITIONS))
            return active if last else active & (u_pos < (1.0 - s / t))
        if self.alg_temp > 0:
            # Gumbel-top-k == sampling positions without replacement from softmax(conf / alg_temp).
            u_pos = at.uniform(draw_id(at.index, DRAW_POSITIONS), dtype=torch.float64)
            gumbel = -torch.log(-torch.log(u_pos.clamp_min(1e-12)))
            conf = conf / self.alg_temp + gumbel
        if self.eos_deprioritize:
            conf = torch.where(torch.isin(sampled, stop_ids), torch.full_like(conf, STOP_CONFIDENCE), conf)
        conf = conf.masked_fill(~active, float("-inf"))  # committed positions: never chosen
        order = torch.argsort(conf, dim=-1, descending=True, stable=True)
        rank = torch.empty_like(order).scatter_(-1, order, torch.arange(width, device=order.device).expand(n, -1))
        count = at.count if at.count is not None else commit_counts(active.sum(-1), t, s, last)[:, None]
        return active & (rank < count)

    def commit_plan(self, length: int) -> list[int]:
        """Positions committed at each step when all ``length`` response positions start masked.

        The same for every trajectory under a confidence algorithm (not ``origin``), computed on
        the host with the float32 formula of :func:`commit_counts` on CPU timesteps.
        """
        ts = [np.float32(t) for t in self.timesteps("cpu").tolist()]  # float32 arithmetic, as on device
        n, plan = length, []
        for step in range(self.steps):
            last = step == self.steps - 1
            c = n if last else int(np.floor(np.float32(n) * (np.float32(1.0) - ts[step + 1] / ts[step])))
            plan.append(c)
            n -= c
        return plan
