"""Best-of-N: no guidance; K unguided trajectories per prompt, the best chosen by the final reward."""

from __future__ import annotations

from entrgi.guidance.guidance import Guidance


class NoGuidance(Guidance):
    """Unguided sampling; with K trajectories and best-by-reward selection this is Best-of-N."""

    requires_reward = False
    name = "bon"

    def __init__(self, track_final_reward: bool = False):
        self.track_final_reward = False  # accepted so an experiment can set it for every method; nothing to track

    def guides(self, step: int, steps: int) -> bool:
        return False

    def optimize(self, logits, tokens, objective, sampler, at, entropy=None):
        return logits, {}
