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

import torch

POTENTIALS = ("diff", "max", "add", "current")
ANNEALS = ("none", "linear")
_CLAMP = 1e4  # a log-potential beyond this is clamped (a non-finite reward counts as -_CLAMP)


def log_potential(
    potential: str,
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
    r = torch.nan_to_num(reward.double(), nan=-_CLAMP, posinf=_CLAMP, neginf=-_CLAMP)
    prev = prev_reward.double()
    if anneal == "linear":
        now = lam if lam_now is None else lam_now
        out = now * r - lam_prev * prev
    elif last and potential != "diff":
        out = lam * r - applied
    elif potential == "diff":
        out = lam * (r - prev)
    elif potential == "max":
        out = lam * torch.maximum(r, prev)
    elif potential == "add":
        out = lam * (r + prev)
    elif potential == "current":
        out = lam * r
    else:
        raise ValueError(f"particles.potential must be one of {POTENTIALS}, got {potential!r}")
    return out.clamp(-_CLAMP, _CLAMP)
