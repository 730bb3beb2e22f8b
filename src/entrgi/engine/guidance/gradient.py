"""Reward-gradient guidance on the logits: Expectation, APS, EntRGi and the weight-policy ablations.

``GradientGuidance`` runs M Adam steps on phi (fp32; with ``fp32=False`` the dLLM's logits dtype,
bf16 on GPU, as the authors keep it) to maximize the reward of
``e_hat = e_soft + stopgrad(w * (e_hard - e_soft))`` at masked positions, with
``e_soft = softmax(phi / tau) @ E_R``, ``e_hard = E_R[x]``, ``x ~ top_p(softmax(phi / tau))``
redrawn each inner step, and ``w`` from a :mod:`weight policy <entrgi.engine.guidance.weights>`.
Unmasked positions use ``E_R[token]``. A reward that scores targets (a causal LM's log-likelihood,
``RewardModel.uses_targets``) also receives q = softmax(phi / tau), the drawn tokens and w
(:class:`~entrgi.engine.models.reward_base.SoftTargets`), so it can apply the authors' relaxed targets.

Memory: phi, Adam's m and v are the only [N, G, V] tensors. Autograd runs through the reward
model only (to the response embeddings); the last link, ``e_soft = softmax(phi / tau) @ E_R``,
is differentiated by hand chunk by chunk with the same kernels autograd would use
(``grad_p = grad_e @ E_R^T``, softmax backward, ``/ tau``), and each chunk's Adam update is
applied as soon as its gradient is known (a row's gradient depends on that row of phi only).

Faults: a trajectory whose soft reward or reward gradient is not finite at an inner step skips that
step (:mod:`entrgi.engine.guidance.adam`), counted in the ``faults`` statistic; the others are untouched.

Statistics per guided step (:data:`~entrgi.engine.guidance.guidance.GuidanceStats`): ``w_mean``, ``w_min``,
``w_max`` over the updated positions, ``reward_soft_before`` (first inner step),
``reward_soft_after`` (of the optimized logits; only with ``track_final_reward``), ``guided``, ``faults``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from entrgi.engine.checks import require_bool, require_choice, require_positive, require_range
from entrgi.engine.guidance.adam import RowAdam, RowUpdate, finite_rows
from entrgi.engine.guidance.guidance import Guidance, GuidanceStats
from entrgi.engine.guidance.relaxed_reward import RelaxedReward
from entrgi.engine.guidance.stats import masked_stats, normalized_entropy
from entrgi.engine.guidance.weights import WeightPolicy, parse_weight
from entrgi.engine.models.reward_base import SoftTargets
from entrgi.engine.positions import StepPositions
from entrgi.engine.rng import DRAW_GUIDANCE, draw_id
from entrgi.engine.schedule.sampling import TokenSampler

NORMALIZATIONS = ("log_vocab", "log_support")
METHODS = {"zero": "expectation", "one": "aps", "entropy": "entrgi"}  # weight spec -> method label


class RelaxedInput(NamedTuple):
    """What the reward reads at one inner step (:meth:`GradientGuidance.relaxed_input`)."""

    embeds: torch.Tensor  # [N, L, D] e_hat at the active positions, E_R[token] elsewhere
    current: torch.Tensor  # [N, L] tokens, argmax at the active positions (they locate the first stop token)
    w: torch.Tensor  # [N, G] the straight-through weight
    targets: SoftTargets | None  # q, the drawn tokens and w in the reward's vocabulary, for rewards that read them


def relaxed_probs(phi: torch.Tensor, temperature: float, scaled: torch.Tensor | None = None) -> torch.Tensor:
    """q = softmax(phi / tau) in phi's dtype, the distribution e_soft = sum_i q_i E_R[i] averages over.

    The forward (``relaxed_input``) and the hand-written backward (``ascend``) both call this, so the
    backward differentiates exactly the q the forward used. ``scaled``: ``phi / tau`` already computed
    in fp32 (reused when phi is fp32, where it is the same tensor). [r, V] -> [r, V].
    """
    z = scaled if scaled is not None and phi.dtype == torch.float32 else phi / temperature
    return torch.softmax(z, dim=-1)


class GradientGuidance(Guidance):
    """Reward-gradient guidance on the logits (Expectation, APS, EntRGi, ablations)."""

    def __init__(
        self,
        weight: str | float | WeightPolicy = "entropy",
        *,
        inner_steps: int = 3,
        lr: float = 0.5,
        normalization: str = "log_vocab",
        fp32: bool = True,
        track_final_reward: bool = True,
        every: int = 1,
        until: float = 1.0,
        min_entropy: float = 0.0,
    ):
        require_positive(inner_steps, "guidance.inner_steps (M)", hint="use guidance=bon for no optimization")
        require_positive(lr, "guidance.lr (eta)", kind=float)
        require_choice(normalization, "guidance.normalization", NORMALIZATIONS)
        require_bool(fp32, "guidance.fp32")
        require_bool(track_final_reward, "guidance.track_final_reward")
        self.weight = parse_weight(weight)
        self.inner_steps = inner_steps
        self.lr = float(lr)
        self.normalization = normalization
        self.fp32 = fp32
        self.track_final_reward = track_final_reward
        require_positive(every, "guidance.every", hint="guide every k-th denoising step (1: every step)")
        require_range(until, "guidance.until", 0.0, 1.0, low_open=True, hint="a fraction of the denoising steps")
        require_range(min_entropy, "guidance.min_entropy", 0.0, 1.0, hint="a normalized entropy H / log V")
        self.every, self.until, self.min_entropy = every, float(until), float(min_entropy)

    def guides(self, step: int, steps: int) -> bool:
        """Every ``every``-th step among the first ``until`` fraction of the steps."""
        return step % self.every == 0 and step < self.until * steps

    def _gate(self, entropy: torch.Tensor | None, at: StepPositions) -> torch.Tensor | None:
        """[N] bool: trajectories whose masked positions' mean normalized entropy reaches
        ``min_entropy`` (None when every trajectory is guided). Stays on the device."""
        if self.min_entropy <= 0:
            return None
        if entropy is None:
            raise ValueError("guidance.min_entropy needs the logits' normalized entropy from the denoiser")
        return masked_stats(entropy, at.active)[0] >= self.min_entropy  # nan (nothing masked) -> False

    @property
    def fp32_logits(self) -> bool:
        """The logits in fp32 (``fp32``), or in the dLLM's own dtype for a state in that dtype."""
        return self.fp32

    @property
    def method(self) -> str:
        """The short label results group by: expectation / aps / entrgi, or ``w=<spec>`` for ablations."""
        return METHODS.get(self.weight.spec, f"w={self.weight.spec}")

    @property
    def name(self) -> str:
        """What ran: the method, M and eta always, then each other knob that changes the generations
        where it departs from its default, in a fixed order (``track_final_reward`` only adds a trace
        entry): ``entrgi(M=3,eta=0.5)``, ``aps(M=1,eta=0.1,norm=log_support,every=2,until=0.5)``."""
        knobs = [f"M={self.inner_steps}", f"eta={self.lr!r}"]
        if self.normalization != "log_vocab":
            knobs.append(f"norm={self.normalization}")
        if not self.fp32:
            knobs.append("fp32=false")
        if self.every != 1:
            knobs.append(f"every={self.every}")
        if self.until != 1.0:
            knobs.append(f"until={self.until!r}")
        if self.min_entropy != 0.0:
            knobs.append(f"min_entropy={self.min_entropy!r}")
        return f"{self.method}({','.join(knobs)})"

    @torch.no_grad()
    def relaxed_input(
        self,
        phi: torch.Tensor,
        tokens: torch.Tensor,
        reward_fn: RelaxedReward,
        sampler: TokenSampler,
        at: StepPositions,
        draw: int,
        entropy: torch.Tensor | None = None,
    ) -> RelaxedInput:
        """e_hat at the active covered positions, E_R[token] elsewhere, chunk by chunk over phi's rows.

        Returns (embeds [N, L, D], current tokens [N, L] (argmax at active positions; they locate
        the first stop token), w [N, G], targets): ``targets`` are the
        :class:`~entrgi.engine.models.reward_base.SoftTargets` (q, the drawn tokens and w in the reward's
        vocabulary) when the reward reads them (``reward_fn.needs_targets``), else None.
        """
        n, width, vocab = phi.shape
        rows = phi.view(-1, vocab)
        u = at.uniform(draw).reshape(-1)
        h_given = None if entropy is None or self.normalization != "log_vocab" else entropy.reshape(-1)
        e_soft = torch.empty(rows.shape[0], reward_fn.bridge.shape[1], dtype=reward_fn.bridge.dtype, device=phi.device)
        hard = torch.empty(rows.shape[0], dtype=torch.long, device=phi.device)
        top = torch.empty_like(hard)
        w = torch.empty(rows.shape[0], dtype=torch.float32, device=phi.device)
        q = None
        if reward_fn.needs_targets:  # q = softmax(phi / tau) on reward ids, [N*G, V_R]
            reward_vocab = reward_fn.reward.embedding_matrix.shape[0]
            q = torch.empty(rows.shape[0], reward_vocab, dtype=phi.dtype, device=phi.device)
        for sl in at.row_chunks(rows.shape[0], vocab):
            chunk = rows[sl]
            z = sampler.scale(chunk)  # phi / tau, fp32
            logp = sampler.log_probs(chunk, scaled=z)  # [r, V] filtered at tau
            hard[sl] = sampler.draw(logp, u[sl])
            if not self.weight.uses_entropy:
                h = torch.zeros(chunk.shape[0], device=phi.device)
            elif h_given is not None:
                h = h_given[sl]
            else:
                h = normalized_entropy(chunk, self.normalization, logp)
            w[sl] = self.weight(h)
            del logp
            probs = relaxed_probs(chunk, sampler.temperature, scaled=z)  # q = softmax(phi / tau)
            e_soft[sl] = reward_fn.soft(probs)
            if q is not None:
                q[sl] = reward_fn.reward_probs(probs)
            del z, probs
            top[sl] = chunk.argmax(-1)
        e_hard = reward_fn.hard(hard)
        # e_hat = e_soft + sg(w (e_hard - e_soft)): this is its value; the stop-gradient is the backward's
        # (ascend differentiates e_soft = q @ E_R only, so the hard sample and w carry no gradient)
        e_hat = e_soft + w[:, None].to(e_soft.dtype) * (e_hard - e_soft)
        current = at.gather(tokens)
        e_hat = torch.where(
            at.active.reshape(-1, 1), e_hat, reward_fn.hard(current.reshape(-1))
        )  # unmasked: E_R[token]
        embeds = at.scatter(reward_fn.hard(tokens), e_hat.view(n, width, -1))
        current = at.scatter(tokens, torch.where(at.active, top.view(n, width), current))
        targets = None
        if q is not None:
            targets = SoftTargets(
                ids=reward_fn.reward_ids(current),
                positions=at.positions,
                active=at.active,
                probs=q.view(n, width, -1),
                drawn=reward_fn.reward_ids(hard).view(n, width),
                weight=w.view(n, width),
            )
        return RelaxedInput(embeds, current, w.view(n, width), targets)

    @torch.no_grad()
    def ascend(
        self,
        phi: torch.Tensor,
        grad_embeds: torch.Tensor,
        reward_fn: RelaxedReward,
        sampler: TokenSampler,
        at: StepPositions,
        adam: RowUpdate,
        update: torch.Tensor,
        ok: torch.Tensor | None = None,
    ) -> None:
        """One Adam step on phi [N, G, V] from the gradient of the loss w.r.t. the response embeddings (``adam``:
        any :class:`RowUpdate`; :class:`GradientCapture` keeps the gradient instead, for the probe).

        d loss / d phi = softmax_backward(grad_e @ E_R^T, softmax(phi / tau)) / tau at active rows
        (the straight-through term carries no gradient), chunk by chunk, each chunk updated at once.
        Rows outside ``update`` [N, G] get a zero gradient, so Adam leaves them exactly unchanged.
        Trajectories where ``ok`` [N] is False (a non-finite reward or gradient) skip the step: a zero
        gradient (selected, never multiplied: NaN * 0 is NaN) and Adam's skip, so phi, m and v keep
        their rows exactly.
        """
        vocab = phi.shape[-1]
        rows = phi.view(-1, vocab)
        keep = None
        if ok is not None:
            update = update & ok[:, None]
            keep = ok[:, None].expand(update.shape).reshape(-1)  # [N*G]
        g = torch.where(update[..., None], at.gather(grad_embeds), 0.0).reshape(-1, grad_embeds.shape[-1])
        bridge_t = reward_fn.bridge.T
        adam.begin_step()
        for sl in at.row_chunks(rows.shape[0], vocab):
            probs = relaxed_probs(rows[sl], sampler.temperature)  # the forward's q, recomputed
            grad_probs = (g[sl].to(bridge_t.dtype) @ bridge_t).to(probs.dtype)  # [r, V]
            grad = torch._softmax_backward_data(grad_probs, probs, -1, probs.dtype).div_(sampler.temperature)
            del probs, grad_probs
            if keep is None:
                adam.update(sl, grad)
            else:
                adam.update(sl, grad, keep[sl])

    def optimize(self, logits, tokens, reward_fn, sampler, at, entropy=None) -> tuple[torch.Tensor, GuidanceStats]:
        gate = self._gate(entropy, at)
        if gate is not None and logits.device.type == "cpu" and not bool(gate.any()):
            # a host read is free on CPU: skip the work (on GPU the update is masked, sync-free)
            nothing = torch.zeros(logits.shape[0], device=logits.device)
            return logits, {"guided": nothing, "faults": nothing}
        update = at.active if gate is None else at.active & gate[:, None]
        # phi takes the logits' memory: fp32 by default (no copy when the logits are fp32); with fp32=False
        # the logits arrive in the dLLM's own dtype (fp32_logits), so phi, m and v are bf16 on GPU, as
        # the authors keep them: half the memory
        phi = logits.float() if self.fp32 else logits
        adam = RowAdam(phi.view(-1, phi.shape[-1]), self.lr)
        reward_before = w = None
        faults = torch.zeros(phi.shape[0], device=phi.device)  # [N] inner steps skipped
        for m in range(self.inner_steps):
            # at m = 0 phi equals the logits: reuse their entropy
            embeds, current, w, targets = self.relaxed_input(
                phi, tokens, reward_fn, sampler, at, draw_id(at.index, DRAW_GUIDANCE, m), entropy if m == 0 else None
            )
            embeds.requires_grad_(True)
            with torch.enable_grad():
                reward = reward_fn.score(embeds, current, targets)  # [N]
                # sum: each trajectory's phi sees only its own reward
                (grad_embeds,) = torch.autograd.grad(-reward.sum(), embeds)
            if m == 0:
                reward_before = reward.detach()
            ok = finite_rows(reward.detach(), grad_embeds).to(phi.device)  # [N] a fault skips this inner step
            faults += (~ok).float()
            self.ascend(phi, grad_embeds, reward_fn, sampler, at, adam, update, ok)
        del adam
        stats: GuidanceStats = {}
        stats["w_mean"], stats["w_min"], stats["w_max"] = masked_stats(w, update)  # nan for unguided trajectories
        stats["reward_soft_before"] = reward_before
        if self.track_final_reward:
            with torch.no_grad():
                embeds, current, _, targets = self.relaxed_input(
                    phi, tokens, reward_fn, sampler, at, draw_id(at.index, DRAW_GUIDANCE, self.inner_steps)
                )
                stats["reward_soft_after"] = reward_fn.score(embeds, current, targets)
        stats["guided"] = torch.ones_like(reward_before) if gate is None else gate.to(reward_before.dtype)
        if gate is not None:
            faults = torch.where(gate.to(faults.device), faults, 0.0)  # nothing is skipped where nothing moves
        stats["faults"] = faults
        return phi, stats
