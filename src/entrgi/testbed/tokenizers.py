"""Word-level ChatML tokenizers for the testbed dLLM and the testbed reward model.

Both split on whitespace and map each word to one id (``tokenizers`` WordLevel), so decoding
gives back the words joined by single spaces. They differ like a real dLLM / reward model
pair: the reward tokenizer orders its vocabulary differently, has extra tokens, no mask
token, and lacks a seeded share of response words (those encode to ``<unk>``), so guidance
has to bridge two vocabularies.
"""

from __future__ import annotations

import random

from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from entrgi.testbed.language import Grammar, default_grammar
from entrgi.testbed.lexicon import CONTENT_POS, PROMPT_POS

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
MASK, UNK = "<|mask|>", "<unk>"
ROLE_WORDS = ("user", "assistant", "system")
REWARD_EXTRA_TOKENS = ("<think>", "</think>")
MODEL_MAX_LENGTH = 2048

# ChatML, as in Qwen: one block per message, then the assistant header when asked.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _word_level(vocab: list[str], **special_tokens: str) -> PreTrainedTokenizerFast:
    if len(set(vocab)) != len(vocab):
        raise ValueError("tokenizer vocabulary has duplicate entries")
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK,
        additional_special_tokens=[IM_START, IM_END],
        chat_template=CHAT_TEMPLATE,
        clean_up_tokenization_spaces=False,  # keep " ." as it is: the words are the text
        model_max_length=MODEL_MAX_LENGTH,
        **special_tokens,
    )


def _words(grammar: Grammar) -> list[str]:
    return grammar.vocabulary + [w for w in ROLE_WORDS if w not in grammar.lexicon]


def build_dllm_tokenizer(grammar: Grammar | None = None) -> PreTrainedTokenizerFast:
    """The dLLM's tokenizer: special tokens first, then the grammar's words, then role words.

    ``<|endoftext|>`` is both eos and pad (as in Dream); ``<|mask|>`` is the mask token.
    """
    grammar = grammar or default_grammar()
    vocab = [ENDOFTEXT, IM_START, IM_END, MASK, UNK] + _words(grammar)
    return _word_level(vocab, eos_token=ENDOFTEXT, pad_token=ENDOFTEXT, mask_token=MASK)


def reward_missing_words(grammar: Grammar | None = None, drop_fraction: float = 0.08, seed: int = 0) -> list[str]:
    """Response words the reward tokenizer lacks, sorted.

    ``round(drop_fraction * number of response words)`` words are drawn with ``seed`` from
    the content words (nouns, places, verbs, adjectives, adverbs) that never occur in a
    prompt, so prompts and the chat template always tokenize without ``<unk>``.
    """
    if not 0.0 <= drop_fraction < 1.0:
        raise ValueError(f"drop_fraction must be in [0, 1), got {drop_fraction}")
    grammar = grammar or default_grammar()
    prompt_words = {w for p in grammar.all_prompts() for w in p.text.split()}
    entries = [grammar.lexicon[w] for w in grammar.vocabulary]
    response_words = [e.text for e in entries if e.pos != PROMPT_POS]
    candidates = [e.text for e in entries if e.pos in CONTENT_POS and e.text not in prompt_words]
    count = min(round(drop_fraction * len(response_words)), len(candidates))
    return sorted(random.Random(seed).sample(candidates, count))


def build_reward_tokenizer(
    grammar: Grammar | None = None, drop_fraction: float = 0.08, seed: int = 0
) -> PreTrainedTokenizerFast:
    """The reward model's tokenizer: a seeded word order, extra tokens, specials last (as in Qwen).

    No mask token; pad ``<|endoftext|>``, eos ``<|im_end|>``. The words of
    ``reward_missing_words(grammar, drop_fraction, seed)`` are absent and encode to ``<unk>``.
    """
    grammar = grammar or default_grammar()
    missing = set(reward_missing_words(grammar, drop_fraction, seed))
    words = [w for w in _words(grammar) if w not in missing]
    random.Random(seed).shuffle(words)
    vocab = words + list(REWARD_EXTRA_TOKENS) + [ENDOFTEXT, IM_START, IM_END, UNK]
    return _word_level(vocab, eos_token=IM_END, pad_token=ENDOFTEXT)
