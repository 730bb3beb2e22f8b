"""Sequence-classification reward models (Skywork-Reward-V2 family), text and embedding scoring."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from transformers import AutoModelForSequenceClassification, DynamicCache

from entrgi.engine.models.chat_template import encode_with_bos, split_chat_template
from entrgi.engine.models.hf_reward import HFRewardModel
from entrgi.engine.models.padding import pad_rows
from entrgi.engine.models.reward_base import RewardContext, SoftTargets
from entrgi.engine.models.reward_layout import layout_positions

log = logging.getLogger(__name__)


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == torch.float64 else x.float()


class SequenceClassifierReward(HFRewardModel):
    """A frozen ``AutoModelForSequenceClassification`` with one label; score = ``logits[:, 0]``.

    The chat template is split into prefix / suffix around the response by rendering it with a
    sentinel response, so any template (ChatML, Llama-3, Qwen3 with think tags) is handled and
    text scoring and embedding scoring see the same tokens. No BOS is ever doubled: templates
    are tokenized with ``add_special_tokens=False`` and a BOS is prepended only when the
    tokenizer wants one and the template did not write it.
    """

    auto_class = AutoModelForSequenceClassification
    load_kwargs = {"num_labels": 1}
    needs_suffix = True  # the score is read at the last position

    def __init__(self, model: torch.nn.Module, tokenizer, **options):
        """``options``: ``score_batch_size``, ``min_vocab_coverage``, ``cache_prefix`` (``HFRewardModel``)."""
        if getattr(model.config, "num_labels", 1) != 1:
            raise ValueError(f"reward model must have one label (num_labels=1), got {model.config.num_labels}")
        super().__init__(model, tokenizer, **options)
        # score_text pads on the right and transformers pools at the last token that is not
        # config.pad_token_id: pad with exactly that id (and give the config one if it has none)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.pad_token_id
        self.pad_token_id = model.config.pad_token_id
        self._warned_pad_at_end = False

    # ----------------------------------------------------------------- scoring
    def score_embeds(
        self,
        ctx: RewardContext,
        response_embeds: torch.Tensor,
        response_mask: torch.Tensor,
        targets: SoftTargets | None = None,
    ) -> torch.Tensor:
        """Differentiable score of response embeddings (``targets`` unused: the classifier reads inputs only).

        ctx rows match ``response_embeds`` rows: [N, L, D] embeddings and [N, L] bool mask -> [N] fp32.
        The sequence is prefix (left-padded) + response + suffix; positions follow ``position_ids``
        (``contiguous``: over attended tokens; ``authors``: every response slot counts,
        :mod:`entrgi.engine.models.reward_layout`), and the score is read at the last position (always a suffix token).
        """
        emb = self.model.get_input_embeddings()
        n = response_embeds.shape[0]
        suffix = ctx.suffix_ids.expand(n, -1)
        new = torch.cat([response_embeds.to(emb.weight.dtype), emb(suffix)], dim=1)
        mask = torch.cat([ctx.prefix_mask, response_mask, torch.ones_like(suffix, dtype=torch.bool)], dim=1)
        pos = layout_positions(mask, ctx.prefix_ids.shape[1], self.position_ids)
        if ctx.prefix_kv is not None:  # a fresh cache object per call: the forward appends to it
            cache = DynamicCache.from_legacy_cache(ctx.prefix_kv)
            p = ctx.prefix_ids.shape[1]
            hidden = self._backbone(
                inputs_embeds=new,
                attention_mask=mask.long(),
                position_ids=pos[:, p:],
                past_key_values=cache,
                use_cache=True,
            ).last_hidden_state
            self.usage.forward(new.shape[0] * new.shape[1], backward=response_embeds.requires_grad)
        else:
            embeds = torch.cat([emb(ctx.prefix_ids), new], dim=1)
            hidden = self._backbone(
                inputs_embeds=embeds, attention_mask=mask.long(), position_ids=pos
            ).last_hidden_state
            self.usage.forward(embeds.shape[0] * embeds.shape[1], backward=response_embeds.requires_grad)
        self.calls += 1
        return _at_least_fp32(self.model.score(hidden[:, -1])[:, 0])

    @torch.no_grad()
    def score_text(self, messages: Sequence[list[dict[str, str]]], responses: Sequence[str]) -> torch.Tensor:
        """Score decoded responses with the plain classifier forward, in batches. -> [N] fp32 (on CPU)."""
        if len(messages) != len(responses):
            raise ValueError(f"{len(messages)} prompts but {len(responses)} responses")
        ids = []
        for m, r in zip(messages, responses, strict=True):
            prefix, suffix = split_chat_template(self.tokenizer, m)
            ids.append(encode_with_bos(self.tokenizer, prefix + r + suffix))
            if ids[-1][-1] == self.pad_token_id and not self._warned_pad_at_end:
                self._warned_pad_at_end = True  # transformers then pools before the trailing pad-valued tokens
                log.warning(
                    "the reward's chat template ends with its padding token (id %d): its text scores are "
                    "read before that token, its embedding scores at it; give the model a distinct "
                    "config.pad_token_id for the two to agree",
                    self.pad_token_id,
                )
        out = []
        for start in range(0, len(ids), self.score_batch_size):
            # right padding: HF pools the last non-pad token
            tok, att = pad_rows(ids[start : start + self.score_batch_size], self.pad_token_id)
            logits = self.model(input_ids=tok.to(self.device), attention_mask=att.long().to(self.device)).logits
            self.calls += 1
            self.usage.forward(tok.numel())
            out.append(_at_least_fp32(logits[:, 0]).cpu())
        return torch.cat(out)
