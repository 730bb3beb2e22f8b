"""The guided denoising loop: all B*K trajectories advance together, sync-free.

    logits = lm.response_logits(tokens)                      # [N, L, V]
    logits = logits at the G still-masked positions          # [N, G, V], G known on the host
    phi    = guidance.optimize(logits, ...)                  # M inner steps; identity for BoN
    tokens = schedule.step(phi, ...)                         # sample + commit
    trace  = per-step statistics, kept on device

Nothing in the loop calls ``.item()`` or ``.tolist()``; the trace moves to the host once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch

from entrgi import rng
from entrgi.guidance.guidance import Guidance, masked_stats
from entrgi.guidance.objective import RewardObjective
from entrgi.models.base import DiffusionLM
from entrgi.models.reward import SequenceClassifierReward
from entrgi.models.vocab import VocabBridge, build_vocab_bridge
from entrgi.schedule.schedule import DenoisingSchedule
from entrgi.types import PromptItem

_NEVER = -1e9  # finite, so entropies stay finite (0 * log 0 = 0)
TRACE_KEYS = ("entropy_mean", "entropy_min", "entropy_max", "w_mean", "w_min", "w_max",
              "reward_soft_before", "reward_soft_after", "committed")


@dataclass
class GenerationOutput:
    """Host-side results for a batch of B prompts x K trajectories."""

    items: list[PromptItem]
    responses: list[list[str]]  # [B][K]
    rewards: torch.Tensor  # [B, K]
    tokens: torch.Tensor  # [B, K, L]
    trace: dict[str, torch.Tensor]  # each [B, K, T]
    entropy_map: torch.Tensor  # [B, T, L] normalized entropy per position (nan once committed), trajectory 0
    wall_s: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)


class GuidedDenoiser:
    """Runs reward-guided (or unguided) denoising for batches of prompts."""

    def __init__(self, lm: DiffusionLM, reward: SequenceClassifierReward, guidance: Guidance,
                 schedule: DenoisingSchedule, samples_per_prompt: int = 4, seed: int = 0,
                 bridge: VocabBridge | None = None, masked_only: bool = True):
        if not (isinstance(samples_per_prompt, int) and samples_per_prompt > 0):
            raise ValueError(f"samples_per_prompt (K) must be a positive integer, got {samples_per_prompt!r}")
        self.lm, self.reward, self.guidance, self.schedule = lm, reward, guidance, schedule
        self.k = samples_per_prompt
        self.seed = int(seed)
        self.bridge = bridge
        self.masked_only = masked_only  # vocabulary-sized work on masked positions only (same result, faster)
        if self.bridge is None and guidance.requires_reward:
            self.bridge = build_vocab_bridge(lm.tokenizer, reward.tokenizer, reward.embedding_matrix,
                                             lm.vocab_size, min_coverage=getattr(reward, "min_vocab_coverage", 0.5))

    @torch.no_grad()
    def generate(self, items: Sequence[PromptItem]) -> GenerationOutput:
        start = time.perf_counter()
        reward_calls0 = self.reward.calls
        items = list(items)
        lm, sched, k = self.lm, self.schedule, self.k
        dev = lm.device
        messages = [it.messages() for it in items]
        enc = lm.encode(messages, sched.max_new_tokens, [it.sample_id for it in items])
        p = enc.prompt_len
        canvas = enc.tokens.repeat_interleave(k, 0)  # [N, P+L]
        attn = enc.attention_mask.repeat_interleave(k, 0)
        hashes = torch.tensor([rng.stable_id_hash(it.sample_id) for it in items], dtype=torch.long, device=dev)
        keys = rng.trajectory_keys(self.seed, hashes, k)  # [N]
        stop_ids = torch.tensor(lm.stop_token_ids, device=dev)

        objective = None
        if self.guidance.requires_reward:
            ctx = self.reward.context(messages).repeat(k)
            if self.bridge.matrix.device != self.reward.device:  # once, after Lightning placed the models
                self.bridge.matrix = self.bridge.matrix.to(self.reward.device)
            objective = RewardObjective(self.reward, self.bridge.matrix, ctx, stop_ids.to(self.reward.device))

        ts = sched.timesteps(dev)
        n, length = canvas.shape[0], sched.max_new_tokens
        steps = sched.steps
        trace = {key: torch.full((steps, n), float("nan"), device=dev) for key in TRACE_KEYS}
        entropy_map = torch.full((steps, len(items), length), float("nan"), device=dev)
        log_v = math.log(lm.vocab_size)
        resp = canvas[:, p:]
        # Under a confidence algorithm every trajectory has the same, host-known number of masked
        # positions at each step, so the vocabulary-sized work (top-p sorts, guidance, sampling)
        # runs on those positions only, gathered into a fixed shape without a host sync.
        plan = sched.commit_plan(length) if self.masked_only and sched.alg != "origin" else None
        n_masked = length
        for step in range(steps):
            masked = resp == lm.mask_token_id  # [N, L]
            logits = lm.response_logits(torch.cat([canvas[:, :p], resp], 1), attn, p)  # [N, L, V]
            logits[..., lm.mask_token_id] = _NEVER  # a committed mask token would never be unmasked
            if plan is None:
                positions, count, masked_at = None, None, masked
            else:  # masked positions first, in increasing order (a stable sort), the first n_masked of them
                positions = torch.argsort((~masked).to(torch.uint8), dim=-1, stable=True)[:, :n_masked]
                logits = logits.gather(1, positions[..., None].expand(-1, -1, logits.shape[-1]))  # [N, G, V]
                count, masked_at = plan[step], torch.ones_like(positions, dtype=torch.bool)
                n_masked -= count
            logp0 = torch.log_softmax(logits, -1)
            h = -(logp0.exp() * logp0).sum(-1) / log_v  # [N, W] normalized entropy at temperature 1
            trace["entropy_mean"][step], trace["entropy_min"][step], trace["entropy_max"][step] = masked_stats(h, masked_at)
            h_map = (h.masked_fill(~masked, float("nan")) if positions is None
                     else torch.full(masked.shape, float("nan"), device=dev).scatter(1, positions, h.float()))
            entropy_map[step] = h_map[::k]

            pre_log_probs = sched.sampler.log_probs(logits)
            phi, stats = self.guidance.optimize(logits, resp, masked, objective, sched.sampler, keys, step,
                                                log_probs=pre_log_probs, positions=positions)
            log_probs = pre_log_probs if stats is None else stats.log_probs  # None: the step computes it
            out = sched.step(step, ts, resp, masked, phi, pre_log_probs, keys, stop_ids, log_probs=log_probs,
                             positions=positions, count=count)
            resp = out.tokens
            trace["committed"][step] = out.committed.sum(-1).float()
            if stats is not None:
                trace["w_mean"][step], trace["w_min"][step], trace["w_max"][step] = stats.w_mean, stats.w_min, stats.w_max
                trace["reward_soft_before"][step] = stats.reward_before.to(dev)
                trace["reward_soft_after"][step] = stats.reward_after.to(dev)

        responses = lm.decode(resp)  # one host transfer for the tokens
        rewards = self.reward.score_text([m for m in messages for _ in range(k)], responses)
        b = len(items)
        return GenerationOutput(
            items=items,
            responses=[responses[i * k:(i + 1) * k] for i in range(b)],
            rewards=rewards.view(b, k),
            tokens=resp.view(b, k, length).cpu(),
            trace={key: v.T.reshape(b, k, steps).cpu() for key, v in trace.items()},
            entropy_map=entropy_map.transpose(0, 1).cpu(),
            wall_s=time.perf_counter() - start,
            counters={"dllm_calls": steps, "reward_calls": self.reward.calls - reward_calls0},
        )
