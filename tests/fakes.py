"""Test doubles that implement the engine's interfaces with known answers (rewards, judges)."""

from __future__ import annotations

import zlib

import torch

from entrgi.engine.guidance import RelaxedReward
from entrgi.engine.models.reward_base import RewardContext, RewardModel
from entrgi.engine.models.usage import ModelUsage
from entrgi.judges.base import Judge, check_batch


class TokenCountReward(RewardModel):
    """A reward that pays one unit per occurrence of ``target`` in the response.

    Its input embeddings are one-hot over its own vocabulary (the dLLM tokenizer's), so the
    soft score is the expected number of target tokens; text scoring counts the word.
    """

    def __init__(self, tokenizer, target: str):
        self.tokenizer = tokenizer
        self.target = target
        self.target_id = tokenizer.convert_tokens_to_ids(target)
        self.model = torch.nn.Module()  # no weights; E_R is a buffer, so it moves with the module
        self.model.register_buffer("table", torch.eye(len(tokenizer)))
        self.min_vocab_coverage = 0.5
        self.calls = 0
        self.usage = ModelUsage()

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self.model.table

    def context(self, messages):
        n, dev = len(messages), self.device
        return RewardContext(
            torch.zeros(n, 1, dtype=torch.long, device=dev),
            torch.ones(n, 1, dtype=torch.bool, device=dev),
            torch.zeros(1, dtype=torch.long, device=dev),
        )

    def score_embeds(self, ctx, response_embeds, response_mask):
        self.calls += 1
        self.usage.forward(response_mask.numel(), backward=response_embeds.requires_grad)
        return (response_embeds[..., self.target_id] * response_mask).sum(-1).float()

    def score_text(self, messages, responses):
        self.calls += 1
        self.usage.forward(len(responses))
        return torch.tensor([float(r.split().count(self.target)) for r in responses])


class LinearReward(RewardModel):
    """score = sum over attended positions of <embedding, direction>: gradients are known exactly (float64).

    A reward on embeddings only, for hand-made guidance steps (tests pass their own bridge E_R to
    ``RelaxedReward``). It subclasses ``RewardModel`` with what it can honestly provide: ``model``
    (holding ``direction``, so ``device`` follows it), ``calls``, ``usage``, an empty ``context`` (no
    chat template around the response) and ``score_embeds``. It has no tokenizer (``tokenizer`` is
    None) and no vocabulary, so ``embedding_matrix`` and ``score_text`` raise ``NotImplementedError``
    and ``min_vocab_coverage`` is not set: do not give it to a ``GuidedDenoiser`` or a vocabulary bridge.
    ``direction`` comes from its own generator (``seed``), never from the global RNG.
    """

    def __init__(self, dim: int, seed: int = 1):
        self.tokenizer = None
        self.model = torch.nn.Module()
        direction = torch.randn(dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        self.model.register_buffer("direction", direction)  # [D]
        self.calls = 0
        self.usage = ModelUsage()

    @property
    def direction(self) -> torch.Tensor:
        return self.model.direction

    @property
    def embedding_matrix(self) -> torch.Tensor:
        raise NotImplementedError(
            "LinearReward scores embeddings only and has no vocabulary; pass your own bridge E_R to RelaxedReward"
        )

    def context(self, messages):
        n, dev = len(messages), self.device
        empty = torch.zeros(n, 0, dtype=torch.long, device=dev)
        return RewardContext(empty, empty.bool(), torch.zeros(0, dtype=torch.long, device=dev))

    def score_embeds(self, ctx, response_embeds, response_mask):
        self.calls += 1
        self.usage.forward(response_mask.numel(), backward=response_embeds.requires_grad)
        return ((response_embeds @ self.direction) * response_mask).sum(-1)  # [N]

    def score_text(self, messages, responses):
        raise NotImplementedError("LinearReward has no tokenizer: it scores embeddings (score_embeds) only")


def linear_step(n: int = 2, length: int = 5, vocab: int = 11, dim: int = 6, seed: int = 0):
    """A hand-made guidance step in float64: logits [N, L, V], tokens [N, L], masked [N, L] bool
    (position 0 always masked) and a ``RelaxedReward`` of a ``LinearReward`` through a random bridge
    E_R [V, D] (stop token 0, no context)."""
    g = torch.Generator().manual_seed(seed)
    bridge = torch.randn(vocab, dim, generator=g, dtype=torch.float64)
    logits = torch.randn(n, length, vocab, generator=g, dtype=torch.float64)
    tokens = torch.randint(1, vocab, (n, length), generator=g)
    masked = torch.rand(n, length, generator=g) < 0.6
    masked[:, 0] = True
    reward_fn = RelaxedReward(LinearReward(dim), bridge, None, torch.tensor([0]))
    return logits, tokens, masked, reward_fn


class FaultyReward(RewardModel):
    """Wraps a reward; at the ``c``-th differentiable ``score_embeds`` call (an inner step) the rows in
    ``faults[c]`` get a NaN reward (``kind="nan_reward"``) or a NaN / inf gradient w.r.t. their
    embeddings (``"nan_grad"`` / ``"inf_grad"``, through a hook; the reward stays finite).

    Everything else is the wrapped reward's: the contract's methods call it, and its members
    (``tokenizer``, ``model``, ``calls``, ``usage``, ...) are read from it.
    """

    KINDS = ("nan_reward", "nan_grad", "inf_grad")

    def __init__(self, inner: RewardModel, faults: dict[int, list[int]], kind: str = "nan_reward"):
        if kind not in self.KINDS:
            raise ValueError(f"kind={kind!r}; choose one of {list(self.KINDS)}")
        self.inner, self.faults, self.kind = inner, faults, kind
        self.backward_calls = 0

    def __getattr__(self, name):  # members the contract lists: the wrapped reward's
        if name == "inner":  # not set yet (a copy being built): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def embedding_matrix(self) -> torch.Tensor:
        return self.inner.embedding_matrix

    def context(self, messages):
        return self.inner.context(messages)

    def score_text(self, messages, responses):
        return self.inner.score_text(messages, responses)

    def score_embeds(self, ctx, response_embeds, response_mask):
        if not response_embeds.requires_grad:  # the untracked final soft reward
            return self.inner.score_embeds(ctx, response_embeds, response_mask)
        rows = torch.zeros(response_embeds.shape[0], dtype=torch.bool)
        rows[self.faults.get(self.backward_calls, [])] = True
        rows = rows.to(response_embeds.device)
        self.backward_calls += 1
        x = response_embeds * 1.0  # the same values; a place for the hook
        if self.kind != "nan_reward":
            bad = float("nan") if self.kind == "nan_grad" else float("inf")
            x.register_hook(lambda g: torch.where(rows[:, None, None], bad, g))
        r = self.inner.score_embeds(ctx, x, response_mask)
        return torch.where(rows, float("nan"), r) if self.kind == "nan_reward" else r


# ----------------------------------------------------------------- judges
class HashJudge(Judge):
    """Field ``score``: a fixed number in [0, 1) per response text (its CRC-32), so distinct texts
    score apart and a response scores the same wherever it sits; field ``words``: its word count."""

    name = "hash"

    @staticmethod
    def fields(response: str) -> dict:
        return {"score": zlib.crc32(response.encode()) / 2**32, "words": len(response.split())}

    def score(self, messages, responses):
        check_batch(messages, responses)
        return [[self.fields(r) for r in rs] for rs in responses]


class LengthJudge(Judge):
    """Field ``score``: the response's word count; field ``system``: whether the chat has a system turn."""

    name = "length"

    def score(self, messages, responses):
        check_batch(messages, responses)
        return [
            [{"score": float(len(r.split())), "system": m[0]["role"] == "system"} for r in rs]
            for m, rs in zip(messages, responses, strict=True)
        ]
