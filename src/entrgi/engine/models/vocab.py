"""The vocabulary bridge: dLLM token ids -> reward-model input embeddings (and reward token ids).

The two tokenizers differ, so E_R is re-indexed to the dLLM vocabulary by token string: an exact
string match first; otherwise, by ``fallback`` (``reward.vocab_fallback``):

- ``encode`` (ours): the mean reward embedding of the reward tokenizer's encoding of the token's
  text; otherwise (no usable encoding) the reward model's unk embedding, or zeros;
- ``unk`` (the authors' token mapping): the reward embedding of the unk token, else of eos (no
  string encoding).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from entrgi.engine.checks import require_choice

EXACT, FALLBACK, NONE = 0, 1, 2
FALLBACKS = ("encode", "unk")


@dataclass
class BridgeCoverage:
    """dLLM tokenizer ids by how they map: an exact string match, the ``encode`` fallback (always 0
    under ``unk``), or none (the default row: under ``unk`` the unk / eos embedding, under ``encode``
    the unk embedding or zeros). ``usable`` = (exact + fallback) / total, the fraction
    ``reward.min_vocab_coverage`` bounds: under ``unk`` the exact matches alone."""

    exact: int
    fallback: int
    none: int

    @property
    def total(self) -> int:
        return self.exact + self.fallback + self.none

    @property
    def usable(self) -> float:
        return (self.exact + self.fallback) / max(self.total, 1)

    def as_dict(self) -> dict[str, float]:
        return {"exact": self.exact, "fallback": self.fallback, "none": self.none, "usable": self.usable}


@dataclass
class VocabBridge:
    matrix: torch.Tensor  # [V, D] reward embedding for every dLLM id
    kind: torch.Tensor  # [V] EXACT / FALLBACK / NONE
    coverage: BridgeCoverage
    # [V] long: the reward token id each dLLM id maps to: its exact match; under ``encode`` the first id
    # of its encoding; otherwise unk, else eos, else 0
    ids: torch.Tensor


def _default_id(reward_tokenizer) -> int:
    """The reward id of an unmatched dLLM id: unk, else eos, else 0."""
    for tid in (reward_tokenizer.unk_token_id, reward_tokenizer.eos_token_id):
        if tid is not None:
            return int(tid)
    return 0


def build_vocab_bridge(
    dllm_tokenizer,
    reward_tokenizer,
    reward_embeddings: torch.Tensor,
    vocab_size: int | None = None,
    min_coverage: float = 0.5,
    fallback: str = "encode",
) -> VocabBridge:
    """Re-index ``reward_embeddings`` [V_R, D] to the dLLM vocabulary (``vocab_size`` rows).

    ``fallback`` (``encode`` | ``unk``): how an id without an exact match maps (module docstring).
    Coverage counts the dLLM tokenizer's ids (ids past it, padding rows of the logits, map to
    NONE and are not counted). Raises when the usable fraction is below ``min_coverage``.
    """
    require_choice(
        fallback,
        "reward.vocab_fallback",
        FALLBACKS,
        hint="encode: mean embedding of the token's text under the reward tokenizer; unk: the unk (else eos) row",
    )
    n_tok = len(dllm_tokenizer)
    vocab_size = max(vocab_size or n_tok, n_tok)
    reward_vocab = reward_tokenizer.get_vocab()
    unk = reward_tokenizer.unk_token_id
    dllm_tokens = dllm_tokenizer.convert_ids_to_tokens(list(range(n_tok)))

    exact_src = torch.full((vocab_size,), -1, dtype=torch.long)
    missing: list[int] = []
    for i, tok in enumerate(dllm_tokens):
        j = reward_vocab.get(tok) if tok is not None else None
        if j is not None and j < reward_embeddings.shape[0]:
            exact_src[i] = j
        else:
            missing.append(i)

    kind = torch.full((vocab_size,), NONE, dtype=torch.long)
    has = exact_src >= 0
    kind[has] = EXACT
    ids = torch.where(has, exact_src, _default_id(reward_tokenizer))
    e = reward_embeddings.detach()
    # the row of an id with no match: under encode unk (else zeros), under unk unk (else eos, else zeros)
    default_row = unk if unk is not None or fallback == "encode" else reward_tokenizer.eos_token_id
    default = e[default_row] if default_row is not None else torch.zeros_like(e[0])
    matrix = default.expand(vocab_size, -1).clone()
    if has.any():
        matrix[has.to(matrix.device)] = e[exact_src[has].to(e.device)].to(matrix.dtype)

    if missing and fallback == "encode":
        texts = [dllm_tokenizer.convert_tokens_to_string([dllm_tokens[i]]) for i in missing]
        encoded = reward_tokenizer(texts, add_special_tokens=False)["input_ids"]
        ok = [(i, enc) for i, enc in zip(missing, encoded, strict=True) if enc and (unk is None or unk not in enc)]
        if ok:
            flat = torch.tensor([t for _, enc in ok for t in enc], dtype=torch.long, device=e.device)
            offsets = torch.tensor([0] + [len(enc) for _, enc in ok][:-1], device=e.device).cumsum(0)
            means = F.embedding_bag(flat, e.float(), offsets, mode="mean").to(matrix.dtype)
            rows = torch.tensor([i for i, _ in ok], dtype=torch.long)
            matrix[rows.to(matrix.device)] = means
            kind[rows] = FALLBACK
            ids[rows] = torch.tensor([enc[0] for _, enc in ok], dtype=torch.long)

    counted = kind[:n_tok]
    coverage = BridgeCoverage(
        int((counted == EXACT).sum()), int((counted == FALLBACK).sum()), int((counted == NONE).sum())
    )
    if coverage.usable < min_coverage:
        raise ValueError(
            f"the vocabulary bridge maps only {coverage.usable:.1%} of the dLLM vocabulary to reward embeddings "
            f"(exact {coverage.exact}, fallback {coverage.fallback}, none {coverage.none}; "
            f"reward.vocab_fallback={fallback}); below reward.min_vocab_coverage={min_coverage}. Check that the "
            "reward tokenizer suits this dLLM, or lower reward.min_vocab_coverage."
        )
    return VocabBridge(matrix, kind, coverage, ids)
