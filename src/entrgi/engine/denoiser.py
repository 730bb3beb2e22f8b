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
from entrgi.engine.guidance.relaxed_reward import RelaxedReward
from entrgi.engine.guidance.stats import masked_stats, normalized_entropy
from entrgi.engine.models.base import DiffusionLM
from entrgi.engine.models.reward_base import RewardModel
from entrgi.engine.models.vocab import VocabBridge, build_vocab_bridge
from entrgi.engine.particles import NoParticles, Particles, ParticleState
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


@dataclass
class _Batch:
    """One batch's state through the loop (device tensors; N = B*K trajectories)."""

    items: list[PromptItem]
    messages: list[list[dict[str, str]]]
    prompt: torch.Tensor  # [N, P] left-padded prompt ids
    attention: torch.Tensor  # [N, P+L] bool, False on the left padding
    resp: torch.Tensor  # [N, L] response ids (mask tokens until committed)
    keys: torch.Tensor  # [N] trajectory keys (entrgi.engine.rng)
    stop_ids: torch.Tensor  # [S]
    reward_fn: RelaxedReward | None
    timesteps: torch.Tensor  # [T+1]
    trace: StepTrace
    entropy_map: torch.Tensor  # [T, B, L]
    commit_step: torch.Tensor  # [N, L]
    plan: list[int] | None  # positions committed per step (host), or None: every position covered
    n_masked: int
    chunk_bytes: int
    logits_dtype: torch.dtype
    clock: float  # perf_counter at the start
    reward_calls: int  # reward.calls at the start
    usage: dict  # reward.usage at the start
    particles: ParticleState | None = None  # with particles: log-weights and potentials' state
    guided_steps: int = 0


class GuidedDenoiser:
    """Runs reward-guided (or unguided) denoising for batches of prompts."""

    def __init__(
        self,
        lm: DiffusionLM,
        reward: RewardModel,
        guidance: Guidance,
        schedule: DenoisingSchedule,
        *,
        samples_per_prompt: int = 4,
        seed: int = 0,
        bridge: VocabBridge | None = None,
        masked_only: bool = True,
        max_chunk_bytes: int | None = None,
        particles: Particles | None = None,
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
        self.particles = particles if particles is not None else NoParticles()  # particles=none: never due
        if self.bridge is None and (guidance.requires_reward or self.particles.needs_reward):
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
        """B prompts -> their K responses each, rewards and traces: start, T steps, finish."""
        batch = self._start(list(items))
        for step in range(self.schedule.steps):
            self._step(batch, step)
        return self._finish(batch)

    def _start(self, items: list[PromptItem]) -> _Batch:
        """Encode the prompts (K rows each, the response all masks), key the trajectories' randomness,
        build the relaxed reward once for the batch, and allocate the trace."""
        lm, sched, k = self.lm, self.schedule, self.k
        dev = lm.device
        clock, reward_calls, usage = time.perf_counter(), self.reward.calls, self.reward.usage.as_dict()
        messages = [it.messages() for it in items]
        enc = lm.encode(messages, sched.max_new_tokens, [it.sample_id for it in items])
        canvas = enc.tokens.repeat_interleave(k, 0)  # [N, P+L]
        hashes = torch.tensor([rng.stable_id_hash(it.sample_id) for it in items], dtype=torch.long, device=dev)
        stop_ids = torch.tensor(lm.stop_token_ids, device=dev)
        reward_fn = None
        if self.guidance.requires_reward or self.particles.needs_reward:
            ctx = self.reward.context(messages).repeat(k)
            bridge = self.bridge
            if bridge.matrix.device != self.reward.device:  # once, after Lightning placed the models
                bridge.matrix, bridge.ids = bridge.matrix.to(self.reward.device), bridge.ids.to(self.reward.device)
            reward_fn = RelaxedReward(
                self.reward, bridge.matrix, ctx, stop_ids.to(self.reward.device), bridge_ids=bridge.ids
            )
        n, length, steps = canvas.shape[0], sched.max_new_tokens, sched.steps
        # Under a confidence algorithm every trajectory has the same, host-known number of masked
        # positions at each step, so the vocabulary-sized work runs on those positions only.
        plan = sched.commit_plan(length) if self.masked_only and not sched.rule.per_position else None
        return _Batch(
            items=items,
            messages=messages,
            prompt=canvas[:, : enc.prompt_len],
            attention=enc.attention_mask.repeat_interleave(k, 0),
            resp=canvas[:, enc.prompt_len :],
            keys=rng.trajectory_keys(self.seed, hashes, k),  # [N]
            stop_ids=stop_ids,
            reward_fn=reward_fn,
            timesteps=sched.timesteps(dev),
            trace=StepTrace(steps, n, dev),
            entropy_map=torch.full((steps, len(items), length), float("nan"), device=dev),
            commit_step=torch.full((n, length), -1, dtype=torch.long, device=dev),
            plan=plan,
            n_masked=length,
            chunk_bytes=self.max_chunk_bytes or default_max_chunk_bytes(dev),
            # guidance.fp32=false: the logits in the dLLM's own dtype (bf16 on GPU), phi and Adam with them
            logits_dtype=torch.float32 if self.guidance.fp32_logits else lm.logits_dtype,
            clock=clock,
            reward_calls=reward_calls,
            usage=usage,
            particles=self.particles.start(n, dev),
        )

    def _step(self, b: _Batch, step: int) -> None:
        """One denoising step t -> s for all N trajectories: logits at the covered positions, their
        statistics, guidance (phi), then the schedule samples and commits. No host sync."""
        lm, sched = self.lm, self.schedule
        masked = b.resp == lm.mask_token_id  # [N, L]
        if b.plan is None:
            at = StepPositions.every(step, b.keys, masked, b.chunk_bytes)
        else:
            at = StepPositions.masked(step, b.keys, masked, b.n_masked, b.plan[step], b.chunk_bytes)
            b.n_masked -= b.plan[step]
        logits = lm.response_logits(
            torch.cat([b.prompt, b.resp], 1),
            b.attention,
            b.prompt.shape[1],
            None if at.identity else at.positions,
            b.logits_dtype,
        )  # [N, G, V]
        logits[..., lm.mask_token_id] = _NEVER  # a committed mask token would never be unmasked
        h, pre = self._logit_stats(logits, at)  # [N, G]
        own = b.trace.values  # the denoiser's keys
        own["entropy_mean"][step], own["entropy_min"][step], own["entropy_max"][step] = masked_stats(h, at.active)
        b.entropy_map[step] = at.scatter(
            torch.full(masked.shape, float("nan"), device=masked.device), h.masked_fill(~at.active, float("nan"))
        )[:: self.k]
        guided = self.guidance.guides(step, sched.steps)
        own["guided"][step] = float(guided)  # a host bool: the method may narrow it per trajectory
        if guided:
            phi, stats = self.guidance.optimize(logits, b.resp, b.reward_fn, sched.sampler, at, entropy=h)
            b.trace.add_guidance(step, stats, type(self.guidance).__name__)  # the method's name in errors
            b.guided_steps += 1
        else:
            phi = logits
        del logits  # phi may share its memory
        out = sched.step(at, b.timesteps, b.resp, phi, b.stop_ids, pre)
        b.resp = out.tokens
        own["committed"][step] = out.committed.sum(-1).float()
        b.commit_step.masked_fill_(out.committed, step)
        if self.particles.due(step, sched.steps):
            self._resample(b, phi, at, step)
        del phi

    def _resample(self, b: _Batch, phi: torch.Tensor, at: StepPositions, step: int) -> None:
        """Particles: score each trajectory's estimated final text with the reward, reweight, and
        copy the resampled trajectories' canvases and state (their keys stay: entrgi.engine.particles)."""
        p, reward_fn = self.particles, b.reward_fn
        estimates = p.estimates(b.resp, phi, at, self.lm.mask_token_id, step)
        rewards = []
        for x0 in estimates:
            x0 = x0.to(self.reward.device)
            rewards.append(reward_fn.score(reward_fn.hard(x0), x0))
        reward = p.combine_rewards(rewards)
        rows, stats = p.update(b.particles, reward, b.keys[:: self.k], self.k, step, self.schedule.steps)
        rows = rows.to(b.resp.device)
        b.resp, b.commit_step = b.resp[rows], b.commit_step[rows]
        b.trace.add_guidance(step, stats, type(p).__name__)

    def _finish(self, b: _Batch) -> GenerationOutput:
        """Decode (one host transfer), score the texts with the reward, move the trace to the host."""
        lm, k, steps = self.lm, self.k, self.schedule.steps
        responses = lm.decode(b.resp)
        rewards = self.reward.score_text([m for m in b.messages for _ in range(k)], responses)
        n_prompts, length = len(b.items), b.resp.shape[1]
        first = b.resp[::k].cpu()
        usage = self.reward.usage.since(b.usage)
        host_trace = b.trace.host(n_prompts, k)
        faults = int(host_trace["faults"].nansum()) if "faults" in host_trace else 0
        return GenerationOutput(
            items=b.items,
            responses=[responses[i * k : (i + 1) * k] for i in range(n_prompts)],
            rewards=rewards.view(n_prompts, k),
            tokens=b.resp.view(n_prompts, k, length).cpu(),
            trace=host_trace,
            entropy_map=b.entropy_map.transpose(0, 1).cpu(),
            commit_step=b.commit_step[::k].cpu(),
            token_pieces=[[lm.tokenizer.decode([t]) for t in row] for row in first.tolist()],
            wall_s=time.perf_counter() - b.clock,
            counters={
                "dllm_calls": steps,
                "dllm_tokens": steps * (b.prompt.shape[1] + length) * b.resp.shape[0],
                "guided_steps": b.guided_steps,
                "faults": faults,  # the guidance's inner steps skipped for a non-finite value (its 'faults')
                "reward_calls": self.reward.calls - b.reward_calls,
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
