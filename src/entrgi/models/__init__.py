"""Model adapters: dLLMs (DiffusionLM), reward models and the vocabulary bridge."""

from entrgi.models.base import DiffusionLM, EncodedPrompts
from entrgi.models.hf import BidirectionalLM, DreamLM, HFDiffusionLM, LLaDALM
from entrgi.models.reward import RewardContext, SequenceClassifierReward
from entrgi.models.vocab import BridgeCoverage, VocabBridge, build_vocab_bridge

__all__ = [
    "BidirectionalLM",
    "BridgeCoverage",
    "DiffusionLM",
    "DreamLM",
    "EncodedPrompts",
    "HFDiffusionLM",
    "LLaDALM",
    "RewardContext",
    "SequenceClassifierReward",
    "VocabBridge",
    "build_vocab_bridge",
]
