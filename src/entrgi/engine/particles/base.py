"""The particle interface the denoiser drives: which steps evaluate potentials, and the resampling.

``particles=none`` (:class:`NoParticles`) is never due, so the loop runs exactly as without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ParticleState:
    """Per-trajectory particle state ([N] each, N = B*K, sample-major); copied along with a trajectory
    when it is resampled (the log-weights reset)."""

    log_weight: torch.Tensor  # accumulated since the last resampling
    prev_reward: torch.Tensor  # the potential's reward at the previous evaluation (0 before the first)
    log_potentials: torch.Tensor  # sum of the log-potentials applied so far (for the final correction)
    evaluated: bool = False  # whether a potential was evaluated yet (host-known: the schedule of evaluations)
    lam_prev: float = 0.0  # the annealed lambda of the previous evaluation

    @classmethod
    def start(cls, n: int, device: torch.device | str) -> ParticleState:
        zeros = torch.zeros(n, dtype=torch.float64, device=device)
        return cls(zeros, zeros.clone(), zeros.clone())


class Particles:
    """No particles: every trajectory runs on its own (the default)."""

    name = "none"
    needs_reward = False
    fill = "argmax"
    fill_samples = 1

    def due(self, step: int, steps: int) -> bool:
        return False


class NoParticles(Particles):
    """``particles=none``."""
