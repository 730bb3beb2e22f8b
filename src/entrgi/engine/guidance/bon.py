"""Best-of-N: no guidance; K unguided trajectories per prompt, the best chosen by the final reward."""

from __future__ import annotations

from entrgi.engine.guidance.guidance import Guidance


class NoGuidance(Guidance):
    """Unguided sampling; with K trajectories and best-by-reward selection this is Best-of-N."""

    requires_reward = False
    name = "bon"

    def __init__(self, track_final_reward: bool = False, fp32: bool = True):
        # accepted so an experiment can set them for every method (+experiment=paper_exact sets fp32):
        # no reward is tracked and no guidance state kept
        self.track_final_reward = False

    def guides(self, step: int, steps: int) -> bool:
        return False

    def optimize(self, logits, tokens, reward_fn, sampler, at, entropy=None):
        return logits, {}
