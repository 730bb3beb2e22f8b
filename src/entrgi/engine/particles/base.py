"""The particle interface the denoiser drives: which steps evaluate potentials, and the resampling.

``particles=none`` (:class:`NoParticles`) is never due, so the loop runs exactly as without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from entrgi.engine.positions import StepPositions


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


class Particles(ABC):
    """What the denoiser calls on its particles (``engine/denoiser.py``), and nothing else.

    ``start`` at the first step (the state the denoiser carries and copies along resampled rows; None when
    there is none); after a step where ``due`` is true: ``estimates`` of each trajectory's final text, their
    rewards (scored by the denoiser through the guidance reward) through ``combine_rewards``, then ``update``,
    which returns each slot's ancestor row and the trace's statistics. ``needs_reward``: the denoiser must
    build the reward bridge even for a guidance that reads no reward.
    """

    name: str
    needs_reward: bool = False

    @abstractmethod
    def start(self, n: int, device: torch.device | str) -> ParticleState | None:
        """The state of ``n`` = B*K trajectories before the first step."""

    @abstractmethod
    def due(self, step: int, steps: int) -> bool:
        """Whether to evaluate potentials (and perhaps resample) after ``step`` of ``steps``."""

    @abstractmethod
    def estimates(
        self, resp: torch.Tensor, phi: torch.Tensor, at: StepPositions, mask_id: int, step: int
    ) -> list[torch.Tensor]:
        """Estimates [N, L] of each trajectory's final response from its canvas ``resp`` and the logits."""

    @abstractmethod
    def combine_rewards(self, rewards: list[torch.Tensor]) -> torch.Tensor:
        """The [N] rewards of the estimates (one [N] tensor per estimate) as one [N] reward."""

    @abstractmethod
    def update(
        self, state: ParticleState, reward: torch.Tensor, prompt_keys: torch.Tensor, k: int, step: int, steps: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """-> (rows [N]: each slot's ancestor among its own prompt's K rows; statistics, each [N])."""


class NoParticles(Particles):
    """``particles=none``: never due, no state; every trajectory runs on its own (bit-identical to a denoiser
    without particles). Its other methods are the identity, should anything call them."""

    name = "none"

    def start(self, n, device):
        return None

    def due(self, step, steps):
        return False

    def estimates(self, resp, phi, at, mask_id, step):
        return [resp]

    def combine_rewards(self, rewards):
        return rewards[0]

    def update(self, state, reward, prompt_keys, k, step, steps):
        return torch.arange(reward.shape[0], device=reward.device), {}
