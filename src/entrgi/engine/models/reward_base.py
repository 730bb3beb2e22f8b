"""The RewardModel contract: what guidance, the denoiser and the judges need from a reward.

A reward scores (prompt, response) pairs two ways that must agree: on text, after decoding,
and differentiably on response embeddings, during guidance. The vocabulary bridge maps dLLM
tokens to rows of ``embedding_matrix``; scoring the bridge's rows of a response's tokens equals
scoring its decoded text (up to tokenization and float tolerance). Every implementation passes
``tests/contracts/test_reward_model.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from entrgi.engine.models.usage import ModelUsage


@dataclass
class RewardContext:
    """Reward-tokenizer chat template around the response, per trajectory."""

    prefix_ids: torch.Tensor  # [N, Pr] left-padded
    prefix_mask: torch.Tensor  # [N, Pr] bool
    suffix_ids: torch.Tensor  # [Ls], shared by all trajectories
    prefix_kv: tuple | None = None  # per layer (keys, values) [N, H, Pr', d] of the prefix, computed once

    def repeat(self, k: int) -> RewardContext:
        """One row per prompt -> ``k`` consecutive rows per prompt."""
        kv = (
            None
            if self.prefix_kv is None
            else tuple(tuple(t.repeat_interleave(k, 0) for t in layer) for layer in self.prefix_kv)
        )
        return RewardContext(
            self.prefix_ids.repeat_interleave(k, 0), self.prefix_mask.repeat_interleave(k, 0), self.suffix_ids, kv
        )


POSITION_LAYOUTS = ("contiguous", "authors")


@dataclass
class SoftTargets:
    """What a reward that scores *targets* (a causal LM's log-likelihood) needs at relaxed positions.

    The guidance relaxes the input at each masked position l to ``e_hat = e_soft + sg(w (e_hard - e_soft))``;
    a reward that reads only inputs (a sequence classifier) ignores this. One that predicts each token
    from the ones before it also needs a target there: the authors' ``entrgi_ar.py`` scores
    ``soft_lp + w * sg(hard_lp - soft_lp)`` with ``soft_lp = sum_d sg(q_d) log P(d | context)``.
    Everything here is in the reward's vocabulary (mapped through the vocabulary bridge) and detached.
    """

    ids: torch.Tensor  # [N, L] long, the reward token at every response position (committed token, or argmax phi)
    positions: torch.Tensor  # [N, G] long, the response positions of the relaxed rows (increasing)
    active: torch.Tensor  # [N, G] bool, rows that are relaxed (the still-masked positions)
    probs: torch.Tensor  # [N, G, V_R] q = softmax(phi / tau) summed onto reward ids (rows sum to 1)
    drawn: torch.Tensor  # [N, G] long, the reward id of the token drawn at this inner step
    weight: torch.Tensor  # [N, G] float, w of the weight policy


class RewardModel(ABC):
    """A frozen reward R(prompt, response) -> one number per response, higher is better.

    Members an implementation sets in ``__init__``:

    - ``tokenizer``: the reward's tokenizer (with a chat template); the bridge matches its tokens.
    - ``model``: the ``torch.nn.Module`` holding every weight and buffer the reward computes with;
      the framework registers it as a submodule so Lightning moves it to each rank's device, so
      ``device`` and ``embedding_matrix`` must follow it there.
    - ``min_vocab_coverage``: the usable fraction of the dLLM vocabulary the bridge must reach.
    - ``calls``: forwards run so far (an int that only grows).
    - ``usage``: a ``ModelUsage`` every forward (and backward through it) is counted in, with the
      token positions it covered, for compute accounting.

    Class attributes with defaults an implementation may override:

    - ``uses_targets``: ``score_embeds`` reads :class:`SoftTargets` (the guidance then builds them);
    - ``vocab_fallback``: how the bridge maps dLLM tokens with no exact string match (``encode``: the
      mean embedding of the reward tokenizer's encoding of the token's text; ``unk``: the unk / eos row,
      as the authors' code does; ``entrgi.engine.models.vocab``);
    - ``position_ids``: the layout of ``score_embeds`` (``contiguous``: positions over attended tokens
      only, so one-hot embeddings score exactly as the text; ``authors``: every response slot takes a
      position, masked or not, so the suffix sits after a gap, as in the authors' scripts).

    Contract (checked for every implementation by the contract tests):

    - ``score_text`` and ``score_embeds`` return [N] float32 (float64 if the model runs in float64);
      ``score_text`` on the CPU, ``score_embeds`` on ``device``.
    - ``score_embeds(context(m), E[ids], mask)`` equals ``score_text(m, decode(ids))`` where ``E`` is
      ``embedding_matrix`` and ``mask`` is True on the response's tokens.
    - ``score_embeds`` is differentiable w.r.t. ``response_embeds``; a row's score depends on neither
      the other rows of the batch, nor its left padding, nor the embeddings where ``response_mask``
      is False.
    """

    tokenizer: object
    model: torch.nn.Module
    min_vocab_coverage: float
    calls: int
    usage: ModelUsage
    uses_targets: bool = False
    vocab_fallback: str = "encode"
    position_ids: str = "contiguous"

    @property
    def device(self) -> torch.device:
        """Where ``model`` lives (its first parameter or buffer; the CPU for a module with neither)."""
        tensor = next(self.model.parameters(), None)
        if tensor is None:
            tensor = next(self.model.buffers(), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    @property
    @abstractmethod
    def embedding_matrix(self) -> torch.Tensor:
        """E_R [V_R, D]: the input embedding of each reward token, on ``device``; the bridge re-indexes
        it to the dLLM vocabulary (rows are read, never written)."""

    @abstractmethod
    def context(self, messages: Sequence[list[dict[str, str]]]) -> RewardContext:
        """What surrounds the response for each prompt (one row per prompt, on ``device``); callers
        ``repeat(k)`` it for k trajectories per prompt. Computed once per batch: put here whatever does
        not depend on the response (a prompt-prefix key/value cache, say)."""

    @abstractmethod
    def score_embeds(
        self,
        ctx: RewardContext,
        response_embeds: torch.Tensor,
        response_mask: torch.Tensor,
        targets: SoftTargets | None = None,
    ) -> torch.Tensor:
        """Differentiable score of response embeddings: ctx with N rows, ``response_embeds`` [N, L, D]
        (rows of ``embedding_matrix`` or mixtures of them) and ``response_mask`` [N, L] bool (False
        from the response's end on) -> [N]. Masked-out positions must not change the score (in the
        ``contiguous`` layout).
        ``targets``: given by the guidance when ``uses_targets`` (None: hard inputs, e.g. scoring a text)."""

    @abstractmethod
    def score_text(self, messages: Sequence[list[dict[str, str]]], responses: Sequence[str]) -> torch.Tensor:
        """Score decoded responses, one per prompt: N prompts and N strings -> [N] on the CPU."""
