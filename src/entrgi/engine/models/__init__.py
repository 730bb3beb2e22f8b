"""Model adapters: dLLMs (DiffusionLM), reward models and the vocabulary bridge."""

from entrgi.engine.models.base import DiffusionLM, EncodedPrompts
from entrgi.engine.models.causal_lm_reward import CausalLMLogLikReward
from entrgi.engine.models.hf import BidirectionalLM, DreamLM, HFDiffusionLM, LLaDALM
from entrgi.engine.models.hf_reward import HFRewardModel
from entrgi.engine.models.reward import SequenceClassifierReward
from entrgi.engine.models.reward_base import RewardContext, RewardModel
from entrgi.engine.models.vocab import BridgeCoverage, VocabBridge, build_vocab_bridge

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
