"""The testbed's oracle as a judge: exact quality fields for prompts of the testbed language."""

from __future__ import annotations

from entrgi.judges.base import Judge, check_batch, last_user_turn
from entrgi.testbed.judge import TestbedJudge
from entrgi.testbed.language import Grammar


class OracleJudge(Judge):
    """Fields ``score`` (= ``oracle_total``, in [0, 1]), ``oracle_total``, ``grammatical``,
    ``on_topic``, ``sentiment``, ``repetition`` (see :mod:`entrgi.testbed.oracle`).

    The prompt text is the chat's last user turn; it must be a testbed prompt (data=testbed).
    """

    name = "oracle"

    def __init__(self, grammar: Grammar | None = None):
        self.oracle = TestbedJudge(grammar)

    def score(self, messages: list[list[dict[str, str]]], responses: list[list[str]]) -> list[list[dict]]:
        check_batch(messages, responses)
        out = []
        for chat, rs in zip(messages, responses, strict=True):
            prompt = last_user_turn(chat)
            fields = [self.oracle(prompt, r) for r in rs]
            out.append([{"score": f["oracle_total"]} | f for f in fields])
        return out
