"""The testbed language: grammar, oracle (parser + score) and the two tokenizers."""

from __future__ import annotations

import random
import statistics

import pytest
from transformers import AutoTokenizer

from entrgi.testbed.language import TestbedPrompt, default_grammar, sample_pairs, sample_prompts
from entrgi.testbed.lexicon import CONTENT_POS, MAX_WORDS, MIN_WORDS
from entrgi.testbed.oracle import is_on_topic, parse, score
from entrgi.testbed.tokenizers import (
    build_dllm_tokenizer,
    build_reward_tokenizer,
    reward_missing_words,
)

FOOD = TestbedPrompt("tell me about food .", "food", None)
FOOD_NEGATIVE = TestbedPrompt("complain about food .", "food", "negative")

# Hand-written responses (28 words each unless said otherwise).
GOOD = (
    "the delicious bread tastes wonderfully . i love the fresh soup . "
    "in the kitchen , our tasty pizza smells nicely . my cake is very lovely ."
)
NEGATIVE = (
    "the stale bread tastes badly . i hate the bland soup . "
    "in the kitchen , our greasy pizza smells terribly . my cake is very awful ."
)
OFF_TOPIC = (  # positive, but about the weather
    "the bright sun shines wonderfully . i love the mild breeze . "
    "in the valley , our sunny snow falls nicely . my rain is very lovely ."
)
REPETITIVE = " ".join(["the delicious bread tastes wonderfully ."] * 4)  # 24 words
MIXED = (  # GOOD with its last sentence turned negative
    "the delicious bread tastes wonderfully . i love the fresh soup . "
    "in the kitchen , our tasty pizza smells nicely . my cake is very awful ."
)


# --- grammar ---------------------------------------------------------------------------


def test_vocabulary_is_large_sorted_and_unique():
    grammar = default_grammar()
    vocab = grammar.vocabulary
    assert len(vocab) >= 200
    assert vocab == sorted(set(vocab))
    assert all(w.isascii() and (w.isalpha() and w.islower() or w in {".", ",", "?"}) for w in vocab)
    assert len(grammar.topics) == 7


def test_word_attributes():
    grammar = default_grammar()
    attributes = grammar.word_attributes
    assert attributes("delicious") == {"pos": "ADJ", "topic": "food", "sentiment": "positive"}
    assert attributes("awful") == {"pos": "ADJ", "topic": None, "sentiment": "negative"}
    assert attributes("guitar") == {"pos": "NOUN", "topic": "music", "sentiment": "neutral"}
    assert grammar.word_attributes("tell")["pos"] == "PROMPT"
    with pytest.raises(KeyError, match="computer"):
        grammar.word_attributes("computer")


def test_prompts_are_distinct_deterministic_and_in_vocabulary():
    grammar = default_grammar()
    total = len(grammar.all_prompts())
    assert total == 147
    prompts = sample_prompts(total + 10, seed=0)
    assert len({p.text for p in prompts[:total]}) == total  # every prompt once before any repeats
    assert prompts == sample_prompts(total + 10, seed=0)
    assert prompts[:20] != sample_prompts(20, seed=1)
    assert {p.sentiment for p in prompts} == {None, "positive", "negative"}
    assert all(p.topic in p.text.split() for p in prompts)
    assert all(w in grammar.lexicon for p in prompts for w in p.text.split())


def test_responses_have_the_right_length_and_parse():
    pairs = sample_pairs(200, seed=0)
    assert pairs == sample_pairs(200, seed=0)
    assert pairs != sample_pairs(200, seed=1)
    for _, response in pairs:
        words = response.split(" ")
        assert MIN_WORDS <= len(words) <= MAX_WORDS
        assert parse(response), response


def test_sampling_leaves_the_global_random_state_alone():
    state = random.getstate()
    sample_pairs(20, seed=3)
    sample_prompts(20, seed=3)
    assert random.getstate() == state


def test_natural_distribution_statistics():
    # Measured on 2000 pairs, seed 0: grammatical 1.000, on-topic (is_on_topic) 0.914,
    # mean on_topic 0.85, mean sentiment +0.11 (sd 0.69; by requested sentiment:
    # none +0.12, positive +0.47, negative -0.25), mean repetition 0.10,
    # mean oracle total 0.78 (sd 0.17), 53% distinct totals, mean length 29.7 words.
    pairs = sample_pairs(2000, seed=0)
    scores = [score(p, r) for p, r in pairs]
    assert all(s.grammatical and s.length_ok for s in scores)
    on_topic_rate = sum(is_on_topic(p, r) for p, r in pairs) / len(pairs)
    assert 0.85 <= on_topic_rate <= 0.96
    sentiments = [s.sentiment for s in scores]
    assert 0.0 < statistics.mean(sentiments) < 0.3
    assert statistics.pstdev(sentiments) > 0.5
    by_request = {
        asked: statistics.mean(s.sentiment for (p, _), s in zip(pairs, scores, strict=True) if p.sentiment == asked)
        for asked in (None, "positive", "negative")
    }
    assert by_request["negative"] < by_request[None] < by_request["positive"]
    totals = [s.total for s in scores]
    assert 0.7 < statistics.mean(totals) < 0.85
    assert statistics.pstdev(totals) > 0.1
    assert len({round(t, 9) for t in totals}) > 0.3 * len(totals)  # informative, not mostly ties
    assert 0.05 < statistics.mean(s.repetition for s in scores) < 0.2


# --- oracle ----------------------------------------------------------------------------


@pytest.mark.parametrize("response", [GOOD, NEGATIVE, OFF_TOPIC, REPETITIVE, MIXED])
def test_hand_written_responses_parse(response):
    assert parse(response)


@pytest.mark.parametrize(
    "response",
    [
        # word salad
        "bread the delicious wonderfully tastes . soup fresh love i . kitchen in the , pizza .",
        # cut in the middle of a sentence
        "the delicious bread tastes wonderfully . i love the fresh soup . in the kitchen , our",
        "the delicious bread tastes wonderfully . i love the fresh soup",  # no final "."
        "the delicious computer tastes wonderfully . i love the fresh soup .",  # unknown word
        "the delicious bread wonderfully . i love the fresh soup .",  # missing verb
        "tell me about food . i love the fresh soup .",  # prompt words are not response words
        "",
    ],
)
def test_ungrammatical_responses_fail_and_score_zero(response):
    assert not parse(response)
    result = score(FOOD, response)
    assert not result.grammatical
    assert result.total == 0.0


def test_scores_of_hand_written_responses():
    good, negative, off_topic, repetitive = (score(FOOD, r) for r in (GOOD, NEGATIVE, OFF_TOPIC, REPETITIVE))
    assert good == score(FOOD, GOOD)  # deterministic
    assert (good.on_topic, good.sentiment, good.repetition, good.length_ok) == (1.0, 1.0, 0.0, True)
    assert good.total == pytest.approx(1.0)
    assert negative.sentiment == -1.0 and negative.total == pytest.approx(0.45 + 0.20)
    assert off_topic.on_topic == 0.0 and off_topic.total == pytest.approx(0.35 + 0.20)
    assert repetitive.repetition == pytest.approx(0.75)  # 3 of 4 sentences, 12 of 16 content words
    assert repetitive.total == pytest.approx(0.45 + 0.35 + 0.20 * 0.25)
    assert good.total > repetitive.total > negative.total > off_topic.total
    assert is_on_topic(FOOD, GOOD) and not is_on_topic(FOOD, OFF_TOPIC)


def test_score_is_graded_and_follows_the_requested_sentiment():
    mixed = score(FOOD, MIXED)
    assert mixed.sentiment == pytest.approx(5 / 7)  # 6 positive words, 1 negative
    assert score(FOOD, NEGATIVE).total < mixed.total < score(FOOD, GOOD).total
    assert score(FOOD_NEGATIVE, NEGATIVE).total > score(FOOD_NEGATIVE, GOOD).total
    assert score(FOOD_NEGATIVE, NEGATIVE).total == pytest.approx(1.0)


def test_short_responses_are_penalised():
    short = score(FOOD, "the delicious bread tastes wonderfully .")
    assert short.grammatical and not short.length_ok
    assert short.total == pytest.approx(0.5)  # perfect quality, halved for length


# --- tokenizers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dllm_tok():
    return build_dllm_tokenizer()


@pytest.fixture(scope="module")
def reward_tok():
    return build_reward_tokenizer()


def test_special_tokens(dllm_tok, reward_tok):
    assert dllm_tok.eos_token == dllm_tok.pad_token == "<|endoftext|>"
    assert dllm_tok.mask_token == "<|mask|>" and dllm_tok.mask_token_id == 3
    assert dllm_tok.unk_token == reward_tok.unk_token == "<unk>"
    assert reward_tok.mask_token is None
    assert reward_tok.eos_token == "<|im_end|>" and reward_tok.pad_token == "<|endoftext|>"
    assert len(dllm_tok) == 5 + 261 + 3  # specials, grammar words, role words
    assert len(reward_tok) == 261 - 19 + 3 + 2 + 4  # words - missing + roles + extras + specials


def test_chat_template_renders_and_tokenizes_without_unk(dllm_tok, reward_tok):
    messages = [
        {"role": "system", "content": "describe music ."},
        {"role": "user", "content": FOOD.text},
    ]
    expected = (
        "<|im_start|>system\ndescribe music .<|im_end|>\n"
        "<|im_start|>user\ntell me about food .<|im_end|>\n<|im_start|>assistant\n"
    )
    for tok in (dllm_tok, reward_tok):
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert text == expected
        ids = tok.apply_chat_template(messages, add_generation_prompt=True)
        assert tok.unk_token_id not in ids
        assert tok.convert_ids_to_tokens(ids)[-2:] == ["<|im_start|>", "assistant"]
        prompt_ids = tok([p.text for p in default_grammar().all_prompts()])["input_ids"]
        assert all(tok.unk_token_id not in row for row in prompt_ids)


def test_round_trip(dllm_tok, reward_tok):
    missing = set(reward_missing_words())
    for _, response in sample_pairs(100, seed=5):
        ids = dllm_tok(response)["input_ids"]
        assert len(ids) == len(response.split(" ")) and dllm_tok.unk_token_id not in ids
        assert dllm_tok.decode(ids) == response
        expected = " ".join("<unk>" if w in missing else w for w in response.split(" "))
        assert reward_tok.decode(reward_tok(response)["input_ids"]) == expected


def test_reward_vocabulary_differs_and_lacks_missing_words(dllm_tok, reward_tok):
    grammar = default_grammar()
    missing = reward_missing_words()
    assert len(missing) == round(0.08 * 232) == 19  # 232 response words
    assert all(grammar.lexicon[w].pos in CONTENT_POS for w in missing)
    assert missing == reward_missing_words(seed=0) != reward_missing_words(seed=1)
    for word in missing:
        assert reward_tok(word)["input_ids"] == [reward_tok.unk_token_id]
        assert dllm_tok(word)["input_ids"] != [dllm_tok.unk_token_id]
    dllm_vocab, reward_vocab = dllm_tok.get_vocab(), reward_tok.get_vocab()
    shared = set(dllm_vocab) & set(reward_vocab)
    same_id = sum(dllm_vocab[w] == reward_vocab[w] for w in shared)
    assert len(shared) == 5 + 261 + 3 - 1 - 19  # all but the mask token and the missing words
    assert same_id / len(shared) < 0.05
    assert build_reward_tokenizer().get_vocab() == reward_vocab  # deterministic ids
    assert build_dllm_tokenizer().get_vocab() == dllm_vocab


@pytest.mark.parametrize("build", [build_dllm_tokenizer, build_reward_tokenizer])
def test_save_and_reload(build, tmp_path):
    tok = build()
    tok.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded.special_tokens_map == tok.special_tokens_map
    messages = [{"role": "user", "content": FOOD.text}]
    assert loaded.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == (
        tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    )
    assert loaded.decode(loaded(GOOD)["input_ids"]) == tok.decode(tok(GOOD)["input_ids"])
