"""Feynman-Kac potentials on the reward of each particle's estimated final text (FK steering).

With r_t the reward at this evaluation and r_prev the previous one of the same particle (0 before
the first), the log-potential is lam times
``diff``: r_t - r_prev; ``max``: max(r_t, r_prev); ``add``: r_t + r_prev; ``current``: r_t.
``diff`` telescopes to lam r(final text). For the others, the last evaluation's log-potential is
lam r_T minus the sum of the log-potentials already applied, so every potential targets
exp(lam r) of the final text. ``anneal=linear`` instead uses lam_i = lam * (i+1) / steps at step i
and the increment lam_i r_t - lam_prev r_prev (reward SMC with a tempered target).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from entrgi.engine.plugins import names, resolve

ANNEALS = ("none", "linear")
_CLAMP = 1e4  # a log-potential beyond this is clamped (a non-finite reward counts as -_CLAMP)


class Potential(ABC):
    """A Feynman-Kac potential: one evaluation's log-potential from this and the previous reward of each
    particle (before the last evaluation's correction and the clamp). ``particles.potential=<spec>``."""

    spec: str

    @abstractmethod
    def __call__(self, lam: float, r: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """[N] float64 rewards now and at the previous evaluation -> [N] log-potentials."""


class DiffPotential(Potential):
    """lam (r_t - r_prev): telescopes to lam r(final text), so it needs no last-step correction."""

    spec = "diff"
    telescopes = True

    def __call__(self, lam, r, prev):
        return lam * (r - prev)


class MaxPotential(Potential):
    spec = "max"

    def __call__(self, lam, r, prev):
        return lam * torch.maximum(r, prev)


class AddPotential(Potential):
    spec = "add"

    def __call__(self, lam, r, prev):
        return lam * (r + prev)


class CurrentPotential(Potential):
    spec = "current"

    def __call__(self, lam, r, prev):
        return lam * r


def potentials() -> list[str]:
    """The shorthands ``particles.potential`` accepts."""
    return names(Potential)


def log_potential(
    potential: str | Potential,
    lam: float,
    reward: torch.Tensor,
    prev_reward: torch.Tensor,
    applied: torch.Tensor,
    *,
    last: bool,
    anneal: str = "none",
    lam_now: float | None = None,
    lam_prev: float = 0.0,
) -> torch.Tensor:
    """The log-potential of one evaluation for each particle: [N] rewards -> [N] (float64, finite)."""
    potential = resolve(Potential, potential, "particles.potential")
    r = torch.nan_to_num(reward.double(), nan=-_CLAMP, posinf=_CLAMP, neginf=-_CLAMP)
    prev = prev_reward.double()
    if anneal == "linear":
        now = lam if lam_now is None else lam_now
        out = now * r - lam_prev * prev
    elif last and not getattr(potential, "telescopes", False):
        out = lam * r - applied  # every potential targets exp(lam r) of the final text
    else:
        out = potential(lam, r, prev)
    return out.clamp(-_CLAMP, _CLAMP)
