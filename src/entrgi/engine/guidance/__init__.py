"""Guidance: the contract (``Guidance``, ``GuidanceStats``), Best-of-N, and reward-gradient guidance with
its weight policies for w and the relaxed reward."""

from entrgi.engine.guidance.bon import NoGuidance
from entrgi.engine.guidance.gradient import GradientGuidance
from entrgi.engine.guidance.guidance import Guidance, GuidanceStats
from entrgi.engine.guidance.relaxed_reward import RelaxedReward
from entrgi.engine.guidance.stats import masked_stats, normalized_entropy
from entrgi.engine.guidance.weights import WeightPolicy, parse_weight, weight_policies

__all__ = [
    "GradientGuidance",
    "Guidance",
    "GuidanceStats",
    "NoGuidance",
    "RelaxedReward",
    "WeightPolicy",
    "masked_stats",
    "normalized_entropy",
    "parse_weight",
    "weight_policies",
]
