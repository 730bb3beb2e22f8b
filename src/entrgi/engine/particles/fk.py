"""FK steering / reward SMC: resample each prompt's K trajectories by reward potentials during denoising.

Every ``every`` steps and at the last step, each trajectory's final text is estimated (x0_hat: the
canvas after this step's commit, its masked positions filled from the logits the step sampled from:
``fill=argmax``, or ``fill=sample`` with ``fill_samples`` keyed draws whose rewards are combined by
log-mean-exp), scored by the guidance reward, and turned into a log-potential
(``particles/potentials.py``) added to the trajectory's log-weight. When the effective sample size
of a prompt's K weights falls below ``ess_threshold`` x K (1.0: always), its K trajectories are
resampled among themselves (``multinomial`` or ``systematic``) and their log-weights reset.

A resampled slot copies its ancestor's canvas and state, never its randomness: each slot keeps its
own key, so two copies of one ancestor diverge at the next draw. Resampling is within a prompt, so
results do not depend on batch composition or the number of GPUs. Everything stays on the device.
"""

from __future__ import annotations

import math

import torch

from entrgi.engine import rng
from entrgi.engine.checks import require_positive
from entrgi.engine.particles.base import Particles, ParticleState
from entrgi.engine.particles.potentials import ANNEALS, Potential, log_potential
from entrgi.engine.particles.resampling import METHODS, effective_sample_size, multinomial, systematic
from entrgi.engine.plugins import resolve
from entrgi.engine.positions import StepPositions

FILLS = ("argmax", "sample")
DRAW_RESAMPLE, DRAW_FILL = 5, 6  # rng purposes (entrgi.engine.rng.draw_id), distinct from the sampler's


class FKSteering(Particles):
    """``particles=fk``: potentials ``diff|max|add|current`` with strength ``lam``, ``anneal``,
    ``resample=multinomial|systematic``, adaptive by ``ess_threshold``."""

    name = "fk"
    needs_reward = True

    def __init__(
        self,
        *,
        every: int = 4,
        potential: str | Potential = "diff",
        lam: float = 1.0,
        anneal: str = "none",
        resample: str = "systematic",
        ess_threshold: float = 1.0,
        fill: str = "argmax",
        fill_samples: int = 1,
    ):
        require_positive(every, "particles.every")
        require_positive(fill_samples, "particles.fill_samples")
        potential = resolve(Potential, potential, "particles.potential")
        for value, choices, key in (
            (anneal, ANNEALS, "anneal"),
            (resample, METHODS, "resample"),
            (fill, FILLS, "fill"),
        ):
            if value not in choices:
                raise ValueError(f"particles.{key} must be one of {choices}, got {value!r}")
        if not (isinstance(lam, (int, float)) and math.isfinite(lam)):
            raise ValueError(f"particles.lam must be a finite number, got {lam!r}")
        if not (isinstance(ess_threshold, (int, float)) and 0.0 <= ess_threshold <= 1.0):
            raise ValueError(f"particles.ess_threshold must be in [0, 1] (1: resample always), got {ess_threshold!r}")
        self.every, self.potential, self.lam, self.anneal = int(every), potential, float(lam), anneal
        self.resample, self.ess_threshold = resample, float(ess_threshold)
        self.fill, self.fill_samples = fill, int(fill_samples)

    def start(self, n: int, device: torch.device | str) -> ParticleState:
        return ParticleState.start(n, device)

    def due(self, step: int, steps: int) -> bool:
        """Evaluate potentials after this step: every ``every`` steps and at the last one."""
        return (step + 1) % self.every == 0 or step == steps - 1

    def lam_at(self, step: int, steps: int) -> float:
        return self.lam * (step + 1) / steps if self.anneal == "linear" else self.lam

    def estimates(
        self, resp: torch.Tensor, phi: torch.Tensor, at: StepPositions, mask_id: int, step: int
    ) -> list[torch.Tensor]:
        """x0_hat [N, L] (``fill_samples`` of them for ``fill=sample``): ``resp`` with its masked
        positions filled from ``phi`` [N, G, V] (the logits at ``at``'s positions)."""
        masked = resp == mask_id
        if self.fill == "argmax":
            fills = [phi.argmax(-1)]
        else:
            fills = [self._sample(phi, at, step, j) for j in range(self.fill_samples)]
        out = []
        for values in fills:
            filled = at.scatter(resp, values.to(resp.dtype))
            out.append(torch.where(masked, filled, resp))
        return out

    def _sample(self, phi: torch.Tensor, at: StepPositions, step: int, j: int) -> torch.Tensor:
        """One keyed draw per covered position from softmax(phi) (Gumbel-max in chunks of rows)."""
        n, width, vocab = phi.shape
        rows = phi.reshape(-1, vocab)
        keys = rng.combine(at.keys[:, None], at.positions).reshape(-1)  # per (slot, position)
        out = torch.empty(rows.shape[0], dtype=torch.long, device=phi.device)
        for sl in at.row_chunks(rows.shape[0], vocab):
            u = rng.uniform(keys[sl], rng.draw_id(step, DRAW_FILL, j), vocab).clamp_(min=1e-20)
            out[sl] = (rows[sl].float() - torch.log(-torch.log(u))).argmax(-1)
        return out.view(n, width)

    def combine_rewards(self, rewards: list[torch.Tensor]) -> torch.Tensor:
        """The rewards of the estimates combined by log-mean-exp (one estimate: itself)."""
        if len(rewards) == 1:
            return rewards[0]
        stacked = torch.stack([r.double() for r in rewards])
        return torch.logsumexp(stacked, 0) - math.log(len(rewards))

    def update(
        self, state: ParticleState, reward: torch.Tensor, prompt_keys: torch.Tensor, k: int, step: int, steps: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Add this evaluation's log-potential and resample where due. -> (row indices [N] into the
        batch, each slot's ancestor; the trace's statistics, each [N]). ``state`` is updated in place."""
        last = step == steps - 1
        lam_now = self.lam_at(step, steps)
        reward = reward.to(state.log_weight.device)
        inc = log_potential(
            self.potential,
            self.lam,
            reward,
            state.prev_reward,
            state.log_potentials,
            last=last,
            anneal=self.anneal,
            lam_now=lam_now,
            lam_prev=state.lam_prev if state.evaluated else 0.0,
        )
        state.log_weight += inc
        state.log_potentials += inc
        state.prev_reward = torch.nan_to_num(reward.double(), nan=0.0)
        state.evaluated, state.lam_prev = True, lam_now
        logw = state.log_weight.view(-1, k)  # [B, K]
        ess = effective_sample_size(logw)  # [B]
        do = ess < self.ess_threshold * k + 1e-9 if self.ess_threshold < 1.0 else torch.ones_like(ess, dtype=torch.bool)
        weights = torch.softmax(logw, -1)
        draw = rng.draw_id(step, DRAW_RESAMPLE)
        if self.resample == "systematic":
            picks = systematic(weights, rng.uniform(prompt_keys, draw, 1)[:, 0])
        else:
            picks = multinomial(weights, rng.uniform(prompt_keys, draw, k, dtype=torch.float64))
        local = torch.arange(k, device=picks.device).expand_as(picks)
        parents = torch.where(do[:, None], picks, local)  # [B, K] within each prompt
        rows = (parents + torch.arange(logw.shape[0], device=picks.device)[:, None] * k).reshape(-1)
        state.log_weight = torch.where(do[:, None], torch.zeros_like(logw), logw).reshape(-1)[rows]
        state.prev_reward = state.prev_reward[rows]
        state.log_potentials = state.log_potentials[rows]
        stats = {
            "ess": ess.float().repeat_interleave(k),
            "resampled": do.float().repeat_interleave(k),
            "ancestor": parents.reshape(-1).float(),
            "potential_reward": reward.float(),
        }
        return rows, stats
