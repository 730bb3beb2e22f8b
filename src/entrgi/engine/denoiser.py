"""The guided denoising loop: all B*K trajectories advance together, sync-free.

    at     = StepPositions.masked(...)                       # the G still-masked positions, G known on the host
    logits = lm.response_logits(tokens, positions=at)        # [N, G, V], the head applied at those positions only
    h, pre = entropy, confidence statistic of the logits     # [N, G], in chunks of rows
    phi    = guidance.optimize(logits, ..., at)              # M inner steps, in place; identity for BoN
    tokens = schedule.step(at, ..., phi, pre)                # sample + commit
    trace  = per-step statistics, kept on device             # the denoiser's and the guidance's (entrgi.engine.trace)

Nothing in the loop calls ``.item()`` or ``.tolist()``; the trace moves to the host once (and the
``faults`` counter, inner steps skipped for a non-finite soft reward or gradient, is summed there). The
only [N, G, V] tensors alive are the logits (which become phi) and, for gradient guidance,
Adam's m and v; every other vocabulary-sized temporary is one chunk of rows
(``max_chunk_bytes``; by default 8 MiB on CPU, 512 MiB on GPU).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from entrgi.engine import rng
from entrgi.engine.checks import require_positive
from entrgi.engine.guidance.guidance import Guidance
from entrgi.engine.guidance.objective import RewardObjective
from entrgi.engine.guidance.stats import masked_stats, normalized_entropy
from entrgi.engine.models.base import DiffusionLM
from entrgi.engine.models.reward_base import RewardModel
from entrgi.engine.models.vocab import VocabBridge, build_vocab_bridge
from entrgi.engine.positions import StepPositions, default_max_chunk_bytes
from entrgi.engine.schedule.schedule import DenoisingSchedule
from entrgi.engine.trace import StepTrace
from entrgi.engine.types import PromptItem

_NEVER = -1e9  # finite, so entropies stay finite (0 * log 0 = 0)


@dataclass
class GenerationOutput:
    """Host-side results for a batch of B prompts x K trajectories."""

    items: list[PromptItem]
    responses: list[list[str]]  # [B][K]
    rewards: torch.Tensor  # [B, K]
    tokens: torch.Tensor  # [B, K, L]
    trace: dict[str, torch.Tensor]  # each [B, K, T]: entrgi.engine.trace.DENOISER_KEYS and the guidance's statistics
    entropy_map: torch.Tensor  # [B, T, L] normalized entropy per position (nan once committed), trajectory 0
    # [B, L] the step each position of trajectory 0 was committed at (-1: never)
    commit_step: torch.Tensor | None = None
    token_pieces: list[list[str]] | None = None  # [B][L] trajectory 0's final tokens, each decoded alone
    wall_s: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)


class GuidedDenoiser:
    """Runs reward-guided (or unguided) denoising for batches of prompts."""

    def __init__(
        self,
        lm: DiffusionLM,
        reward: RewardModel,
        guidance: Guidance,
        schedule: DenoisingSchedule,
        samples_per_prompt: int = 4,
        seed: int = 0,
        bridge: VocabBridge | None = None,
        masked_only: bool = True,
        max_chunk_bytes: int | None = None,
    ):
        require_positive(samples_per_prompt, "samples_per_prompt (K)")
        if max_chunk_bytes is not None:
            require_positive(
                max_chunk_bytes, "max_chunk_bytes", hint="bytes per [rows, V] chunk, or null for the default"
            )
        self.max_chunk_bytes = max_chunk_bytes  # None: by device (entrgi.engine.positions.DEFAULT_MAX_CHUNK_BYTES)
        self.lm, self.reward, self.guidance, self.schedule = lm, reward, guidance, schedule
        self.k = samples_per_prompt
        self.seed = int(seed)
        self.bridge = bridge
        self.masked_only = masked_only  # vocabulary-sized work on masked positions only (same result, faster)
        if self.bridge is None and guidance.requires_reward:
            self.bridge = build_vocab_bridge(
                lm.tokenizer,
                reward.tokenizer,
                reward.embedding_matrix,
                lm.vocab_size,
                min_coverage=reward.min_vocab_coverage,
                fallback=reward.vocab_fallback,
            )

    @torch.no_grad()
    def generate(self, items: Sequence[PromptItem]) -> GenerationOutput:
        start = time.perf_counter()
        reward_calls0 = self.reward.calls
        usage0 = self.reward.usage.as_dict()
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
            bridge = self.bridge
            if bridge.matrix.device != self.reward.device:  # once, after Lightning placed the models
                bridge.matrix, bridge.ids = bridge.matrix.to(self.reward.device), bridge.ids.to(self.reward.device)
            objective = RewardObjective(
                self.reward, bridge.matrix, ctx, stop_ids.to(self.reward.device), bridge_ids=bridge.ids
            )

        ts = sched.timesteps(dev)
        n, length = canvas.shape[0], sched.max_new_tokens
        steps = sched.steps
        trace = StepTrace(steps, n, dev)
        own, source = trace.values, type(self.guidance).__name__  # the denoiser's keys; the method's name in errors
        entropy_map = torch.full((steps, len(items), length), float("nan"), device=dev)
        commit_step = torch.full((n, length), -1, dtype=torch.long, device=dev)
        guided_steps = 0
        resp = canvas[:, p:]
        # Under a confidence algorithm every trajectory has the same, host-known number of masked
        # positions at each step, so the vocabulary-sized work runs on those positions only.
        plan = sched.commit_plan(length) if self.masked_only and sched.alg != "origin" else None
        n_masked = length
        chunk_bytes = self.max_chunk_bytes or default_max_chunk_bytes(dev)
        logits_dtype = torch.float32 if self.guidance.fp32_logits else lm.logits_dtype  # guidance.fp32=false: bf16
        for step in range(steps):
            masked = resp == lm.mask_token_id  # [N, L]
            if plan is None:
                at = StepPositions.every(step, keys, masked, chunk_bytes)
            else:
                at = StepPositions.masked(step, keys, masked, n_masked, plan[step], chunk_bytes)
                n_masked -= plan[step]
            logits = lm.response_logits(
                torch.cat([canvas[:, :p], resp], 1), attn, p, None if at.identity else at.positions, logits_dtype
            )  # [N, G, V]
            logits[..., lm.mask_token_id] = _NEVER  # a committed mask token would never be unmasked
            h, pre = self._logit_stats(logits, at)  # [N, G]
            own["entropy_mean"][step], own["entropy_min"][step], own["entropy_max"][step] = masked_stats(h, at.active)
            entropy_map[step] = at.scatter(
                torch.full(masked.shape, float("nan"), device=dev), h.masked_fill(~at.active, float("nan"))
            )[::k]

            guided = self.guidance.guides(step, steps)
            own["guided"][step] = float(guided)  # a host bool: the method may narrow it per trajectory
            if guided:
                phi, stats = self.guidance.optimize(logits, resp, objective, sched.sampler, at, entropy=h)
                trace.add_guidance(step, stats, source)
                guided_steps += 1
            else:
                phi = logits
            del logits  # phi may share its memory
            out = sched.step(at, ts, resp, phi, stop_ids, pre)
            del phi
            resp = out.tokens
            own["committed"][step] = out.committed.sum(-1).float()
            commit_step.masked_fill_(out.committed, step)

        responses = lm.decode(resp)  # one host transfer for the tokens
        rewards = self.reward.score_text([m for m in messages for _ in range(k)], responses)
        b = len(items)
        first = resp[::k].cpu()
        usage = self.reward.usage.since(usage0)
        host_trace = trace.host(b, k)
        faults = int(host_trace["faults"].nansum()) if "faults" in host_trace else 0
        return GenerationOutput(
            items=items,
            responses=[responses[i * k : (i + 1) * k] for i in range(b)],
            rewards=rewards.view(b, k),
            tokens=resp.view(b, k, length).cpu(),
            trace=host_trace,
            entropy_map=entropy_map.transpose(0, 1).cpu(),
            commit_step=commit_step[::k].cpu(),
            token_pieces=[[lm.tokenizer.decode([t]) for t in row] for row in first.tolist()],
            wall_s=time.perf_counter() - start,
            counters={
                "dllm_calls": steps,
                "dllm_tokens": steps * canvas.numel(),
                "guided_steps": guided_steps,
                "faults": faults,  # the guidance's inner steps skipped for a non-finite value (its 'faults')
                "reward_calls": self.reward.calls - reward_calls0,
                **{f"reward_{key}": value for key, value in usage.items()},
            },
        )

    @torch.no_grad()
    def _logit_stats(self, logits: torch.Tensor, at: StepPositions):
        """Normalized entropy at temperature 1 (trace, entropy map, EntRGi's first w) and the
        schedule's pre-guidance confidence statistic, in chunks of rows. -> ([N, G], [N, G] | None).

        The statistic is told whether the run is guided (``schedule.entropy_filter='authors'``)."""
        n, width, vocab = logits.shape
        rows = logits.view(-1, vocab)
        h = torch.empty(rows.shape[0], dtype=torch.float32, device=logits.device)
        pre = None
        for sl in at.row_chunks(rows.shape[0], vocab):
            h[sl] = normalized_entropy(rows[sl])
            stat = self.schedule.pre_guidance(rows[sl], guided=self.guidance.requires_reward)
            if stat is not None:
                pre = pre if pre is not None else torch.empty(rows.shape[0], dtype=stat.dtype, device=logits.device)
                pre[sl] = stat
        return h.view(n, width), None if pre is None else pre.view(n, width)
