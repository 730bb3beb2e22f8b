"""Model adapters: dLLMs (DiffusionLM), reward models and the vocabulary bridge."""

from entrgi.models.base import DiffusionLM, EncodedPrompts
from entrgi.models.causal_lm_reward import CausalLMLogLikReward
from entrgi.models.hf import BidirectionalLM, DreamLM, HFDiffusionLM, LLaDALM
from entrgi.models.hf_reward import HFRewardModel
from entrgi.models.reward import SequenceClassifierReward
from entrgi.models.reward_base import RewardContext, RewardModel
from entrgi.models.vocab import BridgeCoverage, VocabBridge, build_vocab_bridge

__all__ = [
    "BidirectionalLM",
    "BridgeCoverage",
    "CausalLMLogLikReward",
    "DiffusionLM",
    "DreamLM",
    "EncodedPrompts",
    "HFDiffusionLM",
    "HFRewardModel",
    "LLaDALM",
    "RewardContext",
    "RewardModel",
    "SequenceClassifierReward",
    "VocabBridge",
    "build_vocab_bridge",
]
