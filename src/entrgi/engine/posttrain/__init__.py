"""Post-training a dLLM on what guidance finds: completions, log-likelihood estimators, objectives.

Pure torch; ``entrgi.pipeline.posttrain`` runs them in a Lightning training loop."""

from entrgi.engine.posttrain.completions import Completions, through_first_stop
from entrgi.engine.posttrain.estimators import ElboEstimator, LogLikEstimator, OneStepEstimator
from entrgi.engine.posttrain.objectives import RGRL, BestOfKSFT, Objective, RewardWeighted

__all__ = [
    "RGRL",
    "BestOfKSFT",
    "Completions",
    "ElboEstimator",
    "LogLikEstimator",
    "Objective",
    "OneStepEstimator",
    "RewardWeighted",
    "through_first_stop",
]
