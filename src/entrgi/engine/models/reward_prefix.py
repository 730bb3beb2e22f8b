"""The reward's chat template around the response as token ids, and the prompt prefix's key/value
cache: shared by the reward kinds built on transformers checkpoints."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from entrgi.engine.models.chat_template import encode_with_bos, split_chat_template
from entrgi.engine.models.padding import pad_rows


def template_ids(
    tokenizer, messages: Sequence[list[dict[str, str]]], pad_token_id: int
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Left-padded prefix ids [B, Pr] and mask [B, Pr] (bool), and the suffix ids every prompt shares.

    The template is rendered around a sentinel response and split there (``split_chat_template``);
    a BOS is never doubled (``encode_with_bos``). On the CPU.
    """
    parts = [split_chat_template(tokenizer, m) for m in messages]
    prefixes = [encode_with_bos(tokenizer, p) for p, _ in parts]
    suffixes = {tuple(tokenizer(s, add_special_tokens=False)["input_ids"]) for _, s in parts}
    if len(suffixes) != 1:
        raise ValueError("the reward chat template closes the response differently across prompts")
    ids, mask = pad_rows(prefixes, pad_token_id, left=True)
    return ids, mask, list(suffixes.pop())


@torch.no_grad()
def prefix_kv(backbone: torch.nn.Module, embed: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> tuple:
    """Per layer (keys, values) [N, H, P, d] of left-padded ``ids`` [N, P] run through ``backbone``
    (a transformers base model) with positions contiguous over the attended tokens."""
    pos = (mask.long().cumsum(-1) - 1).clamp_min(0)
    out = backbone(inputs_embeds=embed(ids), attention_mask=mask.long(), position_ids=pos, use_cache=True)
    cache = out.past_key_values
    return (
        tuple((layer.keys, layer.values) for layer in cache.layers)
        if hasattr(cache, "layers")
        else tuple(zip(cache.key_cache, cache.value_cache, strict=True))
    )
