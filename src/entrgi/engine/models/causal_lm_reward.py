"""A causal LM's log-likelihood of the response as a reward (any ``AutoModelForCausalLM``)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from transformers import AutoModelForCausalLM, DynamicCache

from entrgi.engine.models.hf_reward import HFRewardModel
from entrgi.engine.models.padding import pad_rows
from entrgi.engine.models.reward_base import RewardContext, SoftTargets
from entrgi.engine.models.reward_layout import layout_positions

_CHUNK_BYTES = 256 * 2**20  # one [rows, V_R] fp32 temporary of the target search


class CausalLMLogLikReward(HFRewardModel):
    """score = mean over target tokens of log p(token | everything before it), where the sequence is
    the reward chat template's prefix (the prompt), the response, and the template's suffix (the
    end-of-turn tokens), and the targets are the response's tokens and the suffix's; the authors'
    AR reward (``main_expts/entrgi_ar.py``).

    Normalization: the sum over the attended response + suffix targets divided by their count, so
    scores of short and long responses share one scale (log-probabilities, <= 0); ending the turn
    well is rewarded through the suffix's tokens.

    Targets during guidance (``targets``, :class:`~entrgi.engine.models.reward_base.SoftTargets`), as the
    authors define them: at a relaxed (still-masked) position l,
    ``lp_l = soft_lp + w * sg(hard_lp - soft_lp)`` with ``soft_lp = sum_d sg(q_d) log P(d | context)``
    (q = softmax(phi / tau) mapped onto reward ids by the vocabulary bridge) and ``hard_lp`` the
    log-probability of the token drawn at this inner step; committed positions and the suffix score
    their own token. The context is the relaxed input embeddings, so the gradient reaches phi through
    the other positions' inputs (q is detached inside ``soft_lp``). w = 0 (Expectation) scores the
    expected log-probability, w = 1 (APS) the drawn token's.

    Without ``targets`` (hard inputs: a decoded text, the contract's one-hot embeddings) the target at
    a position is the reward token whose embedding row is nearest (L2) to the input, which is exact
    for a hard embedding ``E_R[id]``.

    Layout (``position_ids``): prefix left-padded, then the response, then the suffix. ``contiguous``:
    positions over attended tokens, each target predicted from the last attended column before it
    (left padding and the positions past the response's end change nothing). ``authors``: every
    response slot takes a position and each target is predicted from the column just before it, so
    the suffix's first token is read off the last response slot, attended or not, as in
    ``entrgi_ar.py``. ``cache_prefix``: the prompt prefix's keys/values (all but its last token) are
    computed once per batch in ``context`` and reused by every call (exact).
    """

    auto_class = AutoModelForCausalLM
    uncached_prefix_columns = 1  # the prefix's last column predicts the first response token
    uses_targets = True

    def __init__(self, model: torch.nn.Module, tokenizer, **options):
        """``options``: ``score_batch_size``, ``min_vocab_coverage``, ``cache_prefix``, ``position_ids``,
        ``vocab_fallback`` (``HFRewardModel``)."""
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
        self,
        ctx: RewardContext,
        response_embeds: torch.Tensor,
        response_mask: torch.Tensor,
        targets: SoftTargets | None = None,
    ) -> torch.Tensor:
        """Mean log-likelihood of response + suffix: [N, L, D], [N, L] bool -> [N] fp32 (targets: the
        authors' relaxed targets when given, else ``nearest_ids``)."""
        if targets is None:
            return self._loglik(ctx, response_embeds, response_mask, self.nearest_ids(response_embeds))
        return self._loglik(ctx, response_embeds, response_mask, targets.ids, targets)

    @torch.no_grad()
    def score_text(self, messages: Sequence[list[dict[str, str]]], responses: Sequence[str]) -> torch.Tensor:
        """Mean log-likelihood of each response (tokenized on its own, as the embedding path sees it) and
        the template's suffix, in batches, always in the ``contiguous`` layout (a text has no gap).
        -> [N] fp32 (on CPU)."""
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
            out.append(self._loglik(ctx, embed(tokens), att, tokens, layout="contiguous").cpu())
        return torch.cat(out)

    def _loglik(
        self,
        ctx: RewardContext,
        response_embeds: torch.Tensor,
        response_mask: torch.Tensor,
        ids: torch.Tensor,
        targets: SoftTargets | None = None,
        layout: str | None = None,
    ) -> torch.Tensor:
        """Mean log p of ``ids`` [N, L] (where ``response_mask``; relaxed where ``targets`` says) and the
        suffix, given the prefix."""
        layout = layout or self.position_ids
        embed = self.model.get_input_embeddings()
        n, length = response_mask.shape
        suffix = ctx.suffix_ids.expand(n, -1)  # [N, Ls]
        ones = torch.ones_like(suffix, dtype=torch.bool)
        mask = torch.cat([ctx.prefix_mask, response_mask, ones], dim=1)  # [N, S]
        p, s = ctx.prefix_ids.shape[1], mask.shape[1]
        pos = layout_positions(mask, p, layout)
        response = response_embeds.to(embed.weight.dtype)
        if layout == "contiguous":  # a masked-out input never reaches an attended column: zero it
            response = torch.where(response_mask[..., None], response, 0.0)
        kept = s - p  # outputs at columns p-1 .. s-2 predict columns p .. s-1
        kwargs = {"logits_to_keep": kept} if self._keep_arg else {}
        if ctx.prefix_kv is not None:  # the cache holds columns 0 .. p-2; a fresh cache object per call
            inputs = torch.cat([embed(ctx.prefix_ids[:, -1:]), response, embed(suffix)], dim=1)[:, :-1]
            cache = {"past_key_values": DynamicCache.from_legacy_cache(ctx.prefix_kv), "use_cache": True}
            pos = pos[:, p - 1 : -1]
        else:
            inputs = torch.cat([embed(ctx.prefix_ids), response, embed(suffix)], dim=1)[:, :-1]
            cache = {"use_cache": False}
            pos = pos[:, :-1]
        logits = self.model(
            inputs_embeds=inputs, attention_mask=mask[:, :-1].long(), position_ids=pos, **cache, **kwargs
        ).logits
        self.calls += 1
        self.usage.forward(inputs.shape[0] * inputs.shape[1], backward=response_embeds.requires_grad)
        logits = logits[:, -kept:]  # [N, L + Ls, V_R]
        logits = logits if logits.dtype == torch.float64 else logits.float()
        col = torch.arange(s, device=mask.device).expand(n, -1)
        if layout == "contiguous":  # each target column c is predicted from the last attended column before it
            last = torch.where(mask, col, -1).cummax(-1).values  # [N, S] last attended column <= c
            source = last[:, p - 1 : -1] - (p - 1)  # [N, L + Ls] output index of each target's predictor
        else:  # from the column just before it
            source = col[:, : s - p]
        goal = torch.cat([ids.to(suffix.device), suffix], dim=1)  # [N, L + Ls]
        rows = torch.arange(n, device=mask.device)[:, None]
        log_z = torch.logsumexp(logits, dim=-1)[rows, source]  # [N, L + Ls]
        lp = logits[rows, source, goal] - log_z  # [N, L + Ls]
        if targets is not None:
            lp = self._relaxed(lp, logits, log_z, source, targets)
        keep = mask[:, p:]
        return torch.where(keep, lp, 0.0).sum(-1) / keep.sum(-1).clamp_min(1)

    @staticmethod
    def _relaxed(
        lp: torch.Tensor, logits: torch.Tensor, log_z: torch.Tensor, source: torch.Tensor, t: SoftTargets
    ) -> torch.Tensor:
        """``lp`` [N, L + Ls] with the relaxed positions' terms ``soft_lp + w sg(hard_lp - soft_lp)``."""
        rows = torch.arange(lp.shape[0], device=lp.device)[:, None]
        at = t.positions.to(lp.device)  # [N, G]
        log_p = logits[rows, source.gather(1, at)] - log_z.gather(1, at)[..., None]  # [N, G, V_R]
        vocab = t.probs.shape[-1]  # the input-embedding rows the bridge maps onto
        if log_p.shape[-1] < vocab:
            raise ValueError(
                f"the reward's logits cover {log_p.shape[-1]} tokens but its input embeddings {vocab}; the "
                "causal LM's output vocabulary must cover its input vocabulary"
            )
        soft = (t.probs.to(log_p.dtype) * log_p[..., :vocab]).sum(-1)  # q is detached
        hard = log_p.gather(-1, t.drawn[..., None].to(lp.device)).squeeze(-1)
        value = soft + t.weight.to(soft.dtype) * (hard - soft).detach()
        return lp.scatter(1, at, torch.where(t.active.to(lp.device), value, lp.gather(1, at)))
