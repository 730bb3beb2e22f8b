"""Reading an LMUnit answer the way ContextualAI's ``lmunit`` library does (pure Python, no model).

The judge answers a unit test with a short JSON object, ``{"score": 4}``, generated greedily. From
the generated tokens (each decoded alone) and, per generated position, its top-20 (token string,
log-probability) pairs, in rank order:

1. the score position is ``i + 3`` for the first ``i`` with ``tokens[i] == "score"`` and
   ``tokens[i + 1] == '":'`` (Qwen2.5 splits the answer ``{"`` ``score`` ``":`` `` `` ``4`` ``}``);
2. the token there, stripped of white space, must be one of the digits "0".."6";
3. the score is the expectation of the digit over that position's top-20, renormalized over the
   digits found there (exact string match, unstripped)::

       score = sum_d p_d * d / sum_d p_d,   d in 0..6 among the top-20,   p_d = exp(logprob)

The library returns 0 when any step fails; :func:`parse_score` returns ``None`` and the reason
(:data:`NO_SCORE_TOKEN`, :data:`NOT_A_DIGIT`, :data:`NO_DIGIT_IN_TOP`), so a failure is never
averaged in as a score of 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

# The library's score digits and their values (the LMUnit models answer 1..5 in practice).
DIGITS = ("0", "1", "2", "3", "4", "5", "6")
DIGIT_VALUES = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
SCORE_KEY, SCORE_SEP, SCORE_OFFSET = "score", '":', 3

NO_SCORE_TOKEN = "no_score_token"  # no "score" '":' pair, or the answer ends before the score position
NOT_A_DIGIT = "not_a_digit"  # the token at the score position is not one of DIGITS
NO_DIGIT_IN_TOP = "no_digit_in_top20"  # none of DIGITS among the score position's top log-probabilities
REASONS = (NO_SCORE_TOKEN, NOT_A_DIGIT, NO_DIGIT_IN_TOP)


class Generation(NamedTuple):
    """One greedy answer: its token ids and, per generated position, the top token ids with their
    log-probabilities (log_softmax of the raw logits), in rank order."""

    ids: list[int]
    top_ids: list[list[int]]
    top_logprobs: list[list[float]]


class ParsedScore(NamedTuple):
    """``score`` in [0, 6], or ``None`` with ``reason`` (one of :data:`REASONS`)."""

    score: float | None
    reason: str | None = None


def score_position(tokens: Sequence[str]) -> int | None:
    """``i + 3`` for the first ``i`` with ``tokens[i] == "score"`` and ``tokens[i + 1] == '":'``
    (``None`` when there is none; the position may lie past the end of ``tokens``)."""
    for i in range(len(tokens) - 1):
        if tokens[i] == SCORE_KEY and tokens[i + 1] == SCORE_SEP:
            return i + SCORE_OFFSET
    return None


def digit_expectation(top: Sequence[tuple[str, float]]) -> float | None:
    """``sum_d p_d * d / sum_d p_d`` over the digits "0".."6" among ``top`` ((token string,
    log-probability) pairs in rank order; a string listed twice keeps its later log-probability);
    ``None`` when no digit is there (or all of theirs underflow to probability 0)."""
    logprobs = dict(top)  # as the library builds it: later duplicates overwrite
    total = weighted = 0.0
    for digit, value in zip(DIGITS, DIGIT_VALUES, strict=True):
        if digit in logprobs:
            p = math.exp(logprobs[digit])
            weighted += p * value
            total += p
    return weighted / total if total > 0 else None


def parse_score(tokens: Sequence[str], top: Sequence[Sequence[tuple[str, float]]]) -> ParsedScore:
    """The score of one answer: ``tokens[j]`` the j-th generated token decoded alone, ``top[j]`` that
    position's top (token string, log-probability) pairs in rank order."""
    pos = score_position(tokens)
    if pos is None or pos >= len(tokens) or pos >= len(top):
        return ParsedScore(None, NO_SCORE_TOKEN)
    if tokens[pos].strip() not in DIGITS:
        return ParsedScore(None, NOT_A_DIGIT)
    score = digit_expectation(top[pos])
    return ParsedScore(score, None) if score is not None else ParsedScore(None, NO_DIGIT_IN_TOP)


def parse_generation(gen: Generation, decode: Callable[[int], str]) -> ParsedScore:
    """:func:`parse_score` of an answer's ids, each token decoded alone by ``decode(token_id)``."""
    top = [
        [(decode(i), lp) for i, lp in zip(ids, lps, strict=True)]
        for ids, lps in zip(gen.top_ids, gen.top_logprobs, strict=True)
    ]
    return parse_score([decode(i) for i in gen.ids], top)
