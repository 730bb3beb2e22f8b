"""The chat template around one assistant response, shared by reward scoring and reward training.

A template is rendered once with a sentinel as the response and split there, so any template
(ChatML, Llama-3, Qwen3 with think tags) gives the exact text before and after the response.
"""

from __future__ import annotations

_SENTINEL = "\u2063ENTRGI_RESPONSE\u2063"


def split_chat_template(tokenizer, messages: list[dict[str, str]]) -> tuple[str, str]:
    """Text before and after the assistant response that follows ``messages``."""
    conv = list(messages) + [{"role": "assistant", "content": _SENTINEL}]
    text = tokenizer.apply_chat_template(conv, tokenize=False)
    if text.count(_SENTINEL) != 1:
        raise ValueError("the chat template does not render the assistant response verbatim")
    prefix, suffix = text.split(_SENTINEL)
    return prefix, suffix


def encode_with_bos(tokenizer, text: str) -> list[int]:
    """Ids of ``text`` without added special tokens, a BOS prepended only when the tokenizer wants
    one and the template did not already write it (a BOS is never doubled)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    if getattr(tokenizer, "add_bos_token", False) and bos is not None and (not ids or ids[0] != bos):
        ids = [bos] + ids
    return ids


def generation_prompt_ids(tokenizer, messages: list[list[dict[str, str]]]) -> list[list[int]]:
    """Chat-formatted prompt ids ending in the assistant header, one list per conversation. The
    template already holds any BOS, so no special tokens are added (a BOS is never doubled)."""
    texts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]
