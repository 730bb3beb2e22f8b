"""The judge contract: held-out scoring of finished responses (never used for guidance)."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod


class Judge(ABC):
    """Scores the K finished responses of each prompt.

    A judge is an independent check on a run (the paper's LMUnit check against reward hacking):
    it sees only the prompt's chat and the decoded responses, never the guidance.
    """

    name: str  # "oracle" | "reward_model" | "lmunit": written to records as ``judge_name``

    @abstractmethod
    def score(self, messages: list[list[dict[str, str]]], responses: list[list[str]]) -> list[list[dict]]:
        """``messages[b]``: prompt b's chat (optional system turn, then user turns); ``responses[b]``: its K responses.

        Returns, per prompt, per response, a dict of JSON-ready fields that always includes
        ``"score"`` (the judge's primary number, higher is better; ``None`` when it is not finite)
        plus any extra fields, the same in every row. A result depends only on its chat and response
        (batch and order invariant); a malformed batch raises ``ValueError`` (:func:`check_batch`);
        no autograd graph is built. ``tests/contracts/test_judge.py`` checks all of it.
        """


def check_batch(messages: list[list[dict[str, str]]], responses: list[list[str]]) -> None:
    """One chat per prompt, one list of responses per prompt (``ValueError`` otherwise)."""
    if len(messages) != len(responses):
        raise ValueError(
            f"judge got {len(messages)} prompts but {len(responses)} lists of responses; "
            "pass one list of K responses per prompt"
        )
    for b, rs in enumerate(responses):
        if isinstance(rs, str):
            raise ValueError(f"responses[{b}] is a string; pass a list of the prompt's K responses")


def last_user_turn(messages: list[dict[str, str]]) -> str:
    """The content of the chat's last user turn (the query a judge reads)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return m["content"]
    raise ValueError(
        f"the chat has no user turn (roles: {[m.get('role') for m in messages]}); a judge needs the user's request"
    )


def json_number(x: float, digits: int = 6) -> float | None:
    """A finite float rounded for JSON, or None for NaN / inf (JSON has no NaN)."""
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None
