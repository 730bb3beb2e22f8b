"""The reward as a differentiable function of response embeddings, for one batch of trajectories."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from entrgi.engine.models.reward_base import RewardContext, RewardModel, SoftTargets


def before_first_stop(tokens: torch.Tensor, stop_ids: torch.Tensor) -> torch.Tensor:
    """[N, L] ids -> [N, L] bool, True strictly before the first stop token of each row."""
    return torch.cumsum(torch.isin(tokens, stop_ids).long(), dim=-1) == 0


class RelaxedReward:
    """Reward of dLLM responses through the vocabulary bridge E_R [V, D].

    Attention covers the response up to (not including) the first stop token; the chat
    template's suffix closes the turn, exactly as it does when decoded text is scored.
    """

    def __init__(
        self,
        reward: RewardModel,
        bridge: torch.Tensor,
        context: RewardContext,
        stop_ids: torch.Tensor,
        *,
        bridge_ids: torch.Tensor | None = None,
    ):
        self.reward = reward
        self.bridge = bridge  # [V, D]
        self.context = context  # N rows
        self.stop_ids = stop_ids
        self.bridge_ids = bridge_ids  # [V] the reward token of each dLLM id (VocabBridge.ids)
        if reward.uses_targets and bridge_ids is None:
            raise ValueError(f"{type(reward).__name__} scores targets (uses_targets) and needs the bridge's token ids")

    @property
    def needs_targets(self) -> bool:
        """Whether the reward reads :class:`SoftTargets` (a causal LM's log-likelihood does)."""
        return self.reward.uses_targets

    def reward_ids(self, tokens: torch.Tensor) -> torch.Tensor:
        """dLLM ids -> reward ids through the bridge: [...] -> [...]."""
        return self.bridge_ids.to(tokens.device)[tokens]

    def reward_probs(self, probs: torch.Tensor) -> torch.Tensor:
        """A distribution over the dLLM vocabulary summed onto reward ids: [r, V] -> [r, V_R]
        (V_R = the reward's embedding rows), detached."""
        out = torch.zeros(probs.shape[0], self.reward.embedding_matrix.shape[0], dtype=probs.dtype, device=probs.device)
        return out.index_add_(1, self.bridge_ids.to(probs.device), probs.detach())

    def hard(self, tokens: torch.Tensor) -> torch.Tensor:
        """E_R[tokens]: [N, L] -> [N, L, D]."""
        return F.embedding(tokens, self.bridge)

    def soft(self, probs: torch.Tensor) -> torch.Tensor:
        """sum_i probs_i E_R[i]: [N, L, V] -> [N, L, D]."""
        return probs.to(self.bridge.dtype) @ self.bridge

    def response_mask(self, tokens: torch.Tensor) -> torch.Tensor:
        return before_first_stop(tokens, self.stop_ids)

    def score(self, embeds: torch.Tensor, tokens: torch.Tensor, targets: SoftTargets | None = None) -> torch.Tensor:
        """Reward of response embeddings [N, L, D]; ``tokens`` [N, L] locate the first stop; ``targets``
        for a reward that reads them. -> [N]."""
        if targets is None:
            return self.reward.score_embeds(self.context, embeds, self.response_mask(tokens))
        return self.reward.score_embeds(self.context, embeds, self.response_mask(tokens), targets)
