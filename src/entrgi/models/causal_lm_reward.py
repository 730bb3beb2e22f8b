"""A causal LM's log-likelihood of the response as a reward (any ``AutoModelForCausalLM``)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from transformers import AutoModelForCausalLM, DynamicCache

from entrgi.models.hf_reward import HFRewardModel
from entrgi.models.padding import pad_rows
from entrgi.models.reward_base import RewardContext

_CHUNK_BYTES = 256 * 2**20  # one [rows, V_R] fp32 temporary of the target search


class CausalLMLogLikReward(HFRewardModel):
    """score = mean over target tokens of log p(token | everything before it), where the sequence is
    the reward chat template's prefix (the prompt), the response, and the template's suffix (the
    end-of-turn tokens), and the targets are the response's tokens and the suffix's.

    Normalization: a per-token mean over the attended response + suffix tokens (the sum divided by
    their count), so scores of short and long responses share one scale (log-probabilities, <= 0);
    ending the turn well is rewarded through the suffix's tokens.

    Targets of ``score_embeds``: the log-likelihood needs a token at each response position while the
    input is an embedding. The target at a position is the reward token whose embedding row is
    nearest (L2) to the input embedding, searched over the tokenizer's ids: exact for a hard
    embedding ``E_R[id]`` (committed tokens, straight-through samples at w = 1, and the text path),
    the nearest token for a relaxed (soft or interpolated) one. Targets carry no gradient; the
    gradient reaches ``response_embeds`` through the model's conditionals of every later token.

    Layout: prefix left-padded, then response, then suffix; positions contiguous over attended tokens,
    and each target is predicted from the last attended position before it, so neither left padding
    nor the positions after the response's end (``response_mask`` False) change a score.
    ``cache_prefix``: the prompt prefix's keys/values (all but its last token) are computed once per
    batch in ``context`` and reused by every call (exact).
    """

    auto_class = AutoModelForCausalLM
    uncached_prefix_columns = 1  # the prefix's last column predicts the first response token

    def __init__(self, model: torch.nn.Module, tokenizer, **options):
        """``options``: ``score_batch_size``, ``min_vocab_coverage``, ``cache_prefix`` (``HFRewardModel``)."""
        super().__init__(model, tokenizer, **options)
        self._keep_arg = "logits_to_keep" in inspect.signature(model.forward).parameters

    @torch.no_grad()
    def nearest_ids(self, embeds: torch.Tensor) -> torch.Tensor:
        """[..., D] -> [...] the reward token whose embedding row is nearest (L2), over the tokenizer's ids."""
        table = self.embedding_matrix[: len(self.tokenizer)].float()  # [V, D]
        half_sq = 0.5 * table.square().sum(-1)  # [V]
        flat = embeds.detach().reshape(-1, embeds.shape[-1]).float()
        out = torch.empty(flat.shape[0], dtype=torch.long, device=flat.device)
        rows = max(1, _CHUNK_BYTES // (4 * table.shape[0]))
        for start in range(0, flat.shape[0], rows):  # argmin |e - E_v|^2 = argmax e.E_v - |E_v|^2 / 2
            out[start : start + rows] = (flat[start : start + rows] @ table.T - half_sq).argmax(-1)
        return out.view(embeds.shape[:-1])

    def score_embeds(
        self, ctx: RewardContext, response_embeds: torch.Tensor, response_mask: torch.Tensor
    ) -> torch.Tensor:
        """Mean log-likelihood of response + suffix: [N, L, D], [N, L] bool -> [N] fp32 (targets: ``nearest_ids``)."""
        return self._loglik(ctx, response_embeds, response_mask, self.nearest_ids(response_embeds))

    @torch.no_grad()
    def score_text(self, messages: Sequence[list[dict[str, str]]], responses: Sequence[str]) -> torch.Tensor:
        """Mean log-likelihood of each response (tokenized on its own, as the embedding path sees it) and
        the template's suffix, in batches. -> [N] fp32 (on CPU)."""
        if len(messages) != len(responses):
            raise ValueError(f"{len(messages)} prompts but {len(responses)} responses")
        embed = self.model.get_input_embeddings()
        out = []
        for start in range(0, len(responses), self.score_batch_size):
            chunk = list(responses[start : start + self.score_batch_size])
            ctx = self._template(messages[start : start + len(chunk)])  # no cache: one call per chunk
            encoded = self.tokenizer(chunk, add_special_tokens=False)["input_ids"]
            tokens, att = pad_rows(encoded, self.pad_token_id)
            tokens, att = tokens.to(self.device), att.to(self.device)
            out.append(self._loglik(ctx, embed(tokens), att, tokens).cpu())
        return torch.cat(out)

    def _loglik(
        self, ctx: RewardContext, response_embeds: torch.Tensor, response_mask: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Mean log p of ``targets`` [N, L] (where ``response_mask``) and the suffix, given the prefix."""
        embed = self.model.get_input_embeddings()
        n, length = response_mask.shape
        suffix = ctx.suffix_ids.expand(n, -1)  # [N, Ls]
        ones = torch.ones_like(suffix, dtype=torch.bool)
        mask = torch.cat([ctx.prefix_mask, response_mask, ones], dim=1)  # [N, S]
        p, s = ctx.prefix_ids.shape[1], mask.shape[1]
        pos = (mask.long().cumsum(-1) - 1).clamp_min(0)  # contiguous over attended tokens
        # masked-out positions get a zero input: their values never reach an attended position anyway
        response = torch.where(response_mask[..., None], response_embeds.to(embed.weight.dtype), 0.0)
        kept = s - p  # outputs at columns p-1 .. s-2 predict columns p .. s-1
        kwargs = {"logits_to_keep": kept} if self._keep_arg else {}
        if ctx.prefix_kv is not None:  # the cache holds columns 0 .. p-2; a fresh cache object per call
            inputs = torch.cat([embed(ctx.prefix_ids[:, -1:]), response, embed(suffix)], dim=1)[:, :-1]
            logits = self.model(
                inputs_embeds=inputs,
                attention_mask=mask[:, :-1].long(),
                position_ids=pos[:, p - 1 : -1],
                past_key_values=DynamicCache.from_legacy_cache(ctx.prefix_kv),
                use_cache=True,
                **kwargs,
            ).logits
        else:
            inputs = torch.cat([embed(ctx.prefix_ids), response, embed(suffix)], dim=1)[:, :-1]
            logits = self.model(
                inputs_embeds=inputs,
                attention_mask=mask[:, :-1].long(),
                position_ids=pos[:, :-1],
                use_cache=False,
                **kwargs,
            ).logits
        self.calls += 1
        self.usage.forward(inputs.shape[0] * inputs.shape[1], backward=response_embeds.requires_grad)
        logits = logits[:, -kept:]  # [N, L + Ls, V_R]
        logits = logits if logits.dtype == torch.float64 else logits.float()
        # each target column c is predicted from the last attended column before it
        col = torch.arange(s, device=mask.device).expand(n, -1)
        last = torch.where(mask, col, -1).cummax(-1).values  # [N, S] last attended column <= c
        source = last[:, p - 1 : -1] - (p - 1)  # [N, L + Ls] output index of each target's predictor
        goal = torch.cat([targets.to(suffix.device), suffix], dim=1)  # [N, L + Ls]
        rows = torch.arange(n, device=mask.device)[:, None]
        lp = logits[rows, source, goal] - torch.logsumexp(logits, dim=-1)[rows, source]  # [N, L + Ls]
        keep = mask[:, p:]
        return torch.where(keep, lp, 0.0).sum(-1) / keep.sum(-1).clamp_min(1)
