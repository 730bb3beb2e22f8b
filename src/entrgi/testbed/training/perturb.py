"""Corruptions of natural testbed responses: the negative examples of the reward recipe.

The kinds are those guided sampling produces: sentences swapped in from another topic, topical
words from another topic, sentiment pushed one way, repeated sentences or words, a shuffled
sentence, dropped or stray words, cuts mid-sentence or at a sentence end, and overlong
concatenations. Each kind draws only from the ``random.Random`` it is given.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable

from entrgi.testbed.language import Grammar, TestbedPrompt, Word, default_grammar, split_sentences
from entrgi.testbed.lexicon import CONTENT_POS

_OPPOSITE = {"positive": "negative", "negative": "positive"}


def _join(sentences: list[list[str]]) -> str:
    return " ".join(w for s in sentences for w in s)


class ResponsePerturber:
    """Seeded corruptions of a natural response; each returns new text (``rng`` is the only state)."""

    KINDS = (
        "swap_sentences_topic",
        "swap_words_topic",
        "push_sentiment",
        "repeat_sentence",
        "repeat_words",
        "shuffle_sentence",
        "drop_word",
        "stray_word",
        "truncate",
        "keep_first_sentences",
        "concatenate",
    )

    def __init__(self, grammar: Grammar | None = None):
        self.grammar = grammar or default_grammar()
        self._pools: dict[tuple[str, str | None, str], list[str]] = defaultdict(list)  # (pos, topic, sentiment)
        for word in self.grammar.lexicon.values():
            self._pools[(word.pos, word.topic, word.sentiment)].append(word.text)
        self._vocabulary = self.grammar.vocabulary

    def __call__(self, prompt: TestbedPrompt, response: str, rng: random.Random) -> str:
        return self.corrupt(rng.choice(self.KINDS), prompt, response, rng)

    def corrupt(self, kind: str, prompt: TestbedPrompt, response: str, rng: random.Random) -> str:
        """``response`` corrupted by the corruption ``kind`` (one of ``KINDS``)."""
        if kind not in self.KINDS:
            raise ValueError(f"unknown corruption kind {kind!r}; one of {', '.join(self.KINDS)}")
        return getattr(self, kind)(prompt, split_sentences(response.split()), rng)

    def _natural(self, topic: str, sentiment: str | None, rng: random.Random) -> list[list[str]]:
        return split_sentences(self.grammar.sample_response(TestbedPrompt("", topic, sentiment), rng).split())

    def swap_sentences_topic(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        other = rng.choice([t for t in self.grammar.topics if t != prompt.topic])
        donor = self._natural(other, prompt.sentiment, rng)
        for i in rng.sample(range(len(sentences)), rng.randint(1, len(sentences))):
            sentences[i] = rng.choice(donor)
        return _join(sentences)

    def _replace_words(
        self, sentences: list[list[str]], rng: random.Random, share: float, pool_for: Callable[[Word], list[str] | None]
    ) -> str:
        """Replace each word for which ``pool_for(word)`` gives a pool by a draw from it, with probability ``share``."""
        out = []
        for text in (w for sentence in sentences for w in sentence):
            word = self.grammar.lexicon.get(text)
            pool = pool_for(word) if word is not None else None
            out.append(rng.choice(pool) if pool and rng.random() < share else text)
        return " ".join(out)

    def swap_words_topic(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        """Topical words (same part of speech and sentiment) drawn from one other topic: grammatical, less on topic."""
        other = rng.choice([t for t in self.grammar.topics if t != prompt.topic])
        return self._replace_words(
            sentences,
            rng,
            rng.uniform(0.2, 0.8),
            lambda w: self._pools.get((w.pos, other, w.sentiment)) if w.topic else None,
        )

    def push_sentiment(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        """Turn a random share of the polar words to one polarity (either way: better or worse)."""
        target = rng.choice(list(_OPPOSITE))
        return self._replace_words(
            sentences,
            rng,
            rng.uniform(0.5, 1.0),
            lambda w: self._pools.get((w.pos, w.topic, target)) if w.sentiment in _OPPOSITE else None,
        )

    def repeat_sentence(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        copy = list(rng.choice(sentences))
        if rng.random() < 0.5 and len(sentences) > 1:
            sentences[rng.randrange(len(sentences))] = copy
        else:
            sentences.insert(rng.randint(0, len(sentences)), copy)
        return _join(sentences)

    def repeat_words(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        """Content words replaced by earlier content words of the same part of speech: grammatical, repetitive."""
        seen: dict[str, list[str]] = defaultdict(list)
        out = []
        for text in (w for sentence in sentences for w in sentence):
            pos = self.grammar.lexicon[text].pos
            if pos in CONTENT_POS:
                if seen[pos] and rng.random() < 0.5:
                    text = rng.choice(seen[pos])
                seen[pos].append(text)
            out.append(text)
        return " ".join(out)

    def shuffle_sentence(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        i = rng.randrange(len(sentences))
        body = sentences[i][:-1]
        rng.shuffle(body)
        sentences[i] = body + sentences[i][-1:]
        return _join(sentences)

    def drop_word(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        words = _join(sentences).split()
        del words[rng.randrange(len(words))]
        return " ".join(words)

    def stray_word(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        words = _join(sentences).split()
        words.insert(rng.randint(0, len(words)), rng.choice(self._vocabulary))
        return " ".join(words)

    def truncate(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        words = _join(sentences).split()
        return " ".join(words[: rng.randint(1, len(words) - 1)])

    def keep_first_sentences(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        """A grammatical response cut at a sentence end, often shorter than the oracle's minimum length."""
        return _join(sentences[: rng.randint(1, max(1, len(sentences) - 1))])

    def concatenate(self, prompt: TestbedPrompt, sentences: list[list[str]], rng: random.Random) -> str:
        return _join(sentences + self._natural(prompt.topic, prompt.sentiment, rng))
