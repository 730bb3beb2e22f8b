"""The testbed's hidden judge: a recogniser for the grammar and an exact quality score.

``parse`` maps each word to its part of speech and recognises the tag sequence as one or
more sentences of ``lexicon.RULES`` (memoised top-down search over the CFG).

``score`` combines four exact measurements into ``total`` in [0, 1]::

    match   = (1 + target * sentiment) / 2        target = -1 if the prompt asks for
                                                  "negative", else +1 (positive is the
                                                  default preference)
    quality = 0.45 * on_topic + 0.35 * match + 0.20 * (1 - repetition)
    total   = 0                                   if not grammatical
            = quality * (1 if length_ok else 0.5) otherwise

where ``on_topic`` is the share of topical words (words that carry a topic) belonging to
the prompt's topic, ``sentiment`` the mean of +1 / -1 over positive / negative words (0 if
there are none), and ``repetition`` the mean of the share of sentences that repeat an
earlier one and the share of content words that repeat an earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from entrgi.testbed.language import Grammar, TestbedPrompt, default_grammar, split_sentences
from entrgi.testbed.lexicon import CONTENT_POS, MAX_WORDS, MIN_WORDS, PROMPT_POS, START

W_TOPIC, W_SENTIMENT, W_REPETITION = 0.45, 0.35, 0.20
LENGTH_PENALTY = 0.5  # factor on quality when the length is outside MIN..MAX_WORDS
ON_TOPIC_THRESHOLD = 0.5
POLARITY = {"positive": 1.0, "negative": -1.0}


@dataclass(frozen=True)
class OracleScore:
    total: float  # in [0, 1]; see the module docstring
    grammatical: bool
    on_topic: float  # in [0, 1]
    sentiment: float  # in [-1, 1]
    repetition: float  # in [0, 1], higher is worse
    length_ok: bool


def _tags(words: list[str], grammar: Grammar) -> list[str] | None:
    """Parts of speech of the words, or ``None`` if one is not a response word."""
    entries = [grammar.lexicon.get(w) for w in words]
    if any(e is None or e.pos == PROMPT_POS for e in entries):
        return None
    return [e.pos for e in entries]


def _recognise(tags: list[str], rules: dict) -> bool:
    """Whether ``tags`` is a sequence of one or more ``START`` sentences."""

    @cache
    def ends(symbol: str, start: int) -> frozenset[int]:
        """Positions where a ``symbol`` that begins at ``start`` can end."""
        if symbol not in rules:
            matches = start < len(tags) and tags[start] == symbol
            return frozenset({start + 1}) if matches else frozenset()
        found: set[int] = set()
        for _, expansion in rules[symbol]:
            positions = {start}
            for part in expansion:
                positions = {end for p in positions for end in ends(part, p)}
            found |= positions
        return frozenset(found)

    boundaries, frontier = {0}, [0]  # positions where a sentence may begin
    while frontier:
        for end in ends(START, frontier.pop()):
            if end not in boundaries:
                boundaries.add(end)
                frontier.append(end)
    return len(tags) > 0 and len(tags) in boundaries


def parse(response: str) -> bool:
    """True iff ``response`` is a grammatical sequence of sentences of the testbed grammar."""
    grammar = default_grammar()
    tags = _tags(response.split(), grammar)
    return tags is not None and _recognise(tags, grammar.rules)


def _repeated_share(items: list) -> float:
    return (len(items) - len(set(items))) / len(items) if items else 0.0


def score(prompt: TestbedPrompt, response: str) -> OracleScore:
    """The oracle's judgement of ``response`` as an answer to ``prompt``."""
    grammar = default_grammar()
    words = response.split()
    entries = [grammar.lexicon[w] for w in words if w in grammar.lexicon]
    topical = [e for e in entries if e.topic is not None]
    on_topic = sum(e.topic == prompt.topic for e in topical) / len(topical) if topical else 0.0
    polarities = [POLARITY[e.sentiment] for e in entries if e.sentiment in POLARITY]
    sentiment = sum(polarities) / len(polarities) if polarities else 0.0
    content = [e.text for e in entries if e.pos in CONTENT_POS]
    repetition = 0.5 * _repeated_share([tuple(s) for s in split_sentences(words)]) + 0.5 * _repeated_share(content)
    length_ok = MIN_WORDS <= len(words) <= MAX_WORDS
    grammatical = parse(response)

    target = -1.0 if prompt.sentiment == "negative" else 1.0
    match = (1.0 + target * sentiment) / 2.0
    quality = W_TOPIC * on_topic + W_SENTIMENT * match + W_REPETITION * (1.0 - repetition)
    total = quality * (1.0 if length_ok else LENGTH_PENALTY) if grammatical else 0.0
    return OracleScore(total, grammatical, on_topic, sentiment, repetition, length_ok)


def is_on_topic(prompt: TestbedPrompt, response: str) -> bool:
    """Whether at least half of the response's topical words are about the prompt's topic."""
    return score(prompt, response).on_topic >= ON_TOPIC_THRESHOLD
