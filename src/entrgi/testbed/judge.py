"""An independent judge for testbed generations: the oracle's fields for a prompt text and a response.

The testbed's stand-in for the paper's LMUnit check: the oracle knows the true quality, so a
reward-hacked response that the reward model likes still scores low here.
"""

from __future__ import annotations

from entrgi.testbed import oracle
from entrgi.testbed.language import Grammar, TestbedPrompt, default_grammar


class TestbedJudge:
    """``judge(prompt_text, response) -> {"oracle_total", "grammatical", "on_topic", "sentiment", "repetition"}``."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, grammar: Grammar | None = None):
        self._prompts: dict[str, TestbedPrompt] = {p.text: p for p in (grammar or default_grammar()).all_prompts()}

    def prompt(self, prompt_text: str) -> TestbedPrompt:
        """The testbed prompt with this exact text (``ValueError`` if the grammar has none)."""
        try:
            return self._prompts[prompt_text]
        except KeyError:
            raise ValueError(
                f"{prompt_text!r} is not a testbed prompt; the judge scores only prompts of the testbed "
                "language (data=testbed), e.g. 'tell me about food .'"
            ) from None

    def __call__(self, prompt_text: str, response: str) -> dict[str, float | bool]:
        score = oracle.score(self.prompt(prompt_text), response)
        return {
            "oracle_total": score.total,
            "grammatical": score.grammatical,
            "on_topic": score.on_topic,
            "sentiment": score.sentiment,
            "repetition": score.repetition,
        }
