"""Guidance: weight policies for w, the reward objective, and the logit optimizer."""

from entrgi.guidance.guidance import GradientGuidance, Guidance, GuidanceStats, NoGuidance, normalized_entropy
from entrgi.guidance.objective import RewardObjective
from entrgi.guidance.weights import WEIGHT_POLICIES, WeightPolicy, parse_weight

__all__ = [
    "GradientGuidance",
    "Guidance",
    "GuidanceStats",
    "NoGuidance",
    "RewardObjective",
    "WEIGHT_POLICIES",
    "WeightPolicy",
    "normalized_entropy",
    "parse_weight",
]
