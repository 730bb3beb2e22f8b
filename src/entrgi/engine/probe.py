"""Does the reward model read soft inputs as it reads hard ones? EntRGi's premise, measured.

At chosen steps of real denoising trajectories (the probe rides the denoiser as a guidance that never
changes the logits, so the trajectories are unguided), the masked positions are binned by the
normalized entropy of the dLLM's logits (temperature 1 over log V: EntRGi's w). One bin at a time,
that bin's positions are relaxed while every other masked position holds one shared hard draw x0;
the hard draws come from p = the schedule's top-k / top-p filtered softmax(phi / tau) (``filtered``;
else the unfiltered softmax). Per trajectory and bin:

- ``gap`` = R(sum_i p_i E_R[i]) - E_{x ~ p} R(E_R[x]): the soft input of the very distribution the
  hard draws come from, against their mean reward; ``gap_<method>``: the same for the input each
  method feeds the reward (Expectation: softmax(phi / tau) unfiltered, as the guidance builds it;
  APS: a hard draw; EntRGi: the interpolation), averaged over ``st_draws`` draws.
- ``cos_<method>``: the cosine, over the bin's rows of phi, between the gradient of that method's
  reward_fn w.r.t. phi (its own forward and hand-written backward, ``GradientGuidance.relaxed_input`` /
  ``ascend``; one draw per inner step, averaged over ``st_draws`` draws; ``_avg``: the cosine of the
  draw-averaged gradient) and the gradient of E_{x ~ p} R(x). That target is exact, by enumeration,
  when every trajectory's bin has at most ``exact_limit`` joint outcomes (``target`` = ``exact``),
  else the score-function estimate with a mean baseline over the ``draws`` draws (``reinforce``;
  ``split_cos``: the cosine of its two halves' estimates, the estimate's own noise).

An analysis tool, correctness first: a few host reads per bin, a few [N, G, V] tensors (float64 for
the gradients) rather than the guidance loop's chunked memory floor.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from entrgi.engine.checks import require_bool, require_integer, require_positive, require_range
from entrgi.engine.guidance.adam import GradientCapture
from entrgi.engine.guidance.gradient import GradientGuidance
from entrgi.engine.guidance.guidance import Guidance, GuidanceStats
from entrgi.engine.guidance.relaxed_reward import RelaxedReward
from entrgi.engine.guidance.stats import normalized_entropy
from entrgi.engine.positions import StepPositions
from entrgi.engine.rng import DRAW_GUIDANCE, draw_id
from entrgi.engine.schedule.sampling import TokenSampler

DEFAULT_METHODS = ("zero", "one", "entropy")  # weight policies: Expectation, APS, EntRGi
_MAX_INNER = 4096  # draw_id's inner counter


@dataclass(frozen=True)
class ProbeSettings:
    bins: int = 4  # equal-width bins of the normalized entropy over [0, 1]
    draws: int = 1024  # hard draws per bin: the mean hard reward and the score-function target
    st_draws: int = 4  # draws of the stochastic methods' inputs (APS, EntRGi), one per inner step
    methods: tuple[str, ...] = DEFAULT_METHODS  # weight policies (entrgi.engine.guidance.weights)
    exact_limit: int = 256  # enumerate a bin when each trajectory has at most this many joint outcomes
    filtered: bool = True  # p = the sampler's filtered distribution (else softmax(phi / tau))
    max_rows: int = 256  # reward rows per call when scoring the hard draws

    def __post_init__(self):
        for key in ("bins", "draws", "st_draws", "max_rows"):
            require_positive(getattr(self, key), f"probe.{key}")
        require_integer(self.exact_limit, "probe.exact_limit", hint="0: never enumerate")
        require_bool(self.filtered, "probe.filtered")
        if self.draws < 2 or 1 + self.draws + self.st_draws > _MAX_INNER:
            raise ValueError(f"probe.draws must lie in [2, {_MAX_INNER - 1 - self.st_draws}], got {self.draws}")
        if not self.methods:
            raise ValueError("probe.methods must name at least one weight policy, e.g. [zero, one, entropy]")


def stage_steps(stages: Sequence[float], steps: int) -> list[int]:
    """Fractions of the T denoising steps -> step indices floor(stage * T), sorted and unique."""
    for stage in stages:
        require_range(stage, "probe.stages", 0.0, 1.0, high_open=True, hint="fractions of the denoising steps")
    return sorted({min(steps - 1, math.floor(stage * steps)) for stage in stages})


class SoftReadProbe(Guidance):
    """A guidance that measures at ``steps`` and returns the logits unchanged; rows land in ``rows``.

    The trajectories are those of BoN with the same seed, except under ``schedule.entropy_filter=authors``,
    which ranks positions as in a guided run (this guidance reads the reward)."""

    requires_reward = True
    name = "probe"

    def __init__(self, steps: Sequence[int], settings: ProbeSettings | None = None):
        self.settings = settings or ProbeSettings()
        self.steps = frozenset(int(s) for s in steps)
        self.methods = method_guidances(self.settings.methods)
        self.rows: list[dict] = []

    def guides(self, step: int, steps: int) -> bool:
        return step in self.steps

    def take_rows(self) -> list[dict]:
        """The rows measured since the last call (one per trajectory, step and entropy bin), handed over once."""
        rows, self.rows = self.rows, []
        return rows

    def optimize(self, logits, tokens, reward_fn, sampler, at, entropy=None) -> tuple[torch.Tensor, GuidanceStats]:
        self.rows.extend(measure(logits, tokens, reward_fn, sampler, at, entropy, self.settings, self.methods))
        return logits, {}


def method_guidances(specs: Sequence[str]) -> dict[str, GradientGuidance]:
    """Weight specs -> {method label: its GradientGuidance} (expectation, aps, entrgi, w=<spec>)."""
    return {g.method: g for g in (GradientGuidance(spec, inner_steps=1) for spec in specs)}


_SOFT = GradientGuidance("zero", inner_steps=1)  # the plain soft input: Expectation's forward


@torch.no_grad()
def measure(
    phi: torch.Tensor,
    tokens: torch.Tensor,
    reward_fn: RelaxedReward,
    sampler: TokenSampler,
    at: StepPositions,
    entropy: torch.Tensor | None = None,
    settings: ProbeSettings | None = None,
    methods: dict[str, GradientGuidance] | None = None,
) -> list[dict]:
    """phi [N, G, V] at ``at.positions``, tokens [N, L] -> one dict per (entropy bin, trajectory) with
    masked positions in that bin: ``step``, ``bin``, ``lo``, ``hi``, ``row`` (the trajectory), ``target``,
    ``samples`` and the measured numbers (module docstring). Host reads: a few per bin."""
    s = settings or ProbeSettings()
    methods = methods if methods is not None else method_guidances(s.methods)
    h = (entropy if entropy is not None else normalized_entropy(phi)).float()  # [N, G]
    z = sampler.scale(phi)
    logp = sampler.log_probs(phi, scaled=z) if s.filtered else torch.log_softmax(z, dim=-1)  # [N, G, V]
    x0 = sampler.draw(logp, at.uniform(draw_id(at.index, DRAW_GUIDANCE, 0)))
    base = at.scatter(tokens, torch.where(at.active, x0, at.gather(tokens)))  # every masked position: x0
    xs = torch.stack([sampler.draw(logp, at.uniform(draw_id(at.index, DRAW_GUIDANCE, 1 + j))) for j in range(s.draws)])
    which = (h * s.bins).floor().clamp(0, s.bins - 1).long()
    out = []
    for b in range(s.bins):
        sel = at.active & (which == b)
        if bool(sel.any()):
            out += _measure_bin(b, sel, phi, h, logp, xs, base, reward_fn, sampler, at, s, methods)
    return out


def _measure_bin(b, sel, phi, h, logp, xs, base, reward_fn, sampler, at, s: ProbeSettings, methods) -> list[dict]:
    n, _, vocab = phi.shape
    tau, fixed = sampler.temperature, at.gather(base)
    at_b = replace(at, active=sel)  # relaxed: this bin; every other covered position: its token in base
    exact = _enumerate(logp, sel, fixed, s.exact_limit)
    if exact is None:
        seqs, weights = xs, torch.full((s.draws, n), 1.0 / s.draws, dtype=torch.float64, device=phi.device)
    else:
        seqs, weights = exact
    seqs = torch.where(sel, seqs, fixed)
    hard = _hard_rewards(seqs, base, at, reward_fn, s.max_rows).double().to(weights.device)  # [J, N]
    mean = (weights * hard).sum(0)
    sd = (weights * (hard - mean) ** 2).sum(0).sqrt()
    moves = (sd > 1e-9 * mean.abs().clamp_min(1.0))[:, None, None]  # else every outcome scores alike: no gradient
    target = _score_grad(seqs, weights, hard, sel, vocab, tau) * moves
    split = torch.full_like(mean, float("nan"))
    if exact is None:
        half = s.draws // 2
        split = _cos(_score_grad(seqs[:half], weights[:half], hard[:half], sel, vocab, tau) * moves,
                     _score_grad(seqs[half:], weights[half:], hard[half:], sel, vocab, tau) * moves)  # fmt: skip
    soft, _ = _forward(_SOFT, logp * tau, base, reward_fn, sampler, at_b, draw_id(at.index, DRAW_GUIDANCE, 0), None)
    count = sel.sum(-1).clamp_min(1)
    cols = {
        "positions": sel.sum(-1),
        "entropy": (h * sel).sum(-1) / count,
        "support": (torch.isfinite(logp).sum(-1) * sel).sum(-1) / count,
        "soft": soft,
        "hard_mean": mean,
        "hard_sd": sd,
        "gap": soft.double().to(mean.device) - mean,
        "split_cos": split,
    }
    for label, guidance in methods.items():
        k = s.st_draws if guidance.weight.depends_on_draw else 1
        rewards, cosines, total = [], [], torch.zeros_like(target)
        for d in range(k):
            draw = draw_id(at.index, DRAW_GUIDANCE, 1 + s.draws + d)
            reward, grad = _forward(guidance, phi, base, reward_fn, sampler, at_b, draw, h, with_grad=True)
            rewards.append(reward.double().to(mean.device))
            cosines.append(_cos(grad, target))
            total += grad
        cols[f"gap_{label}"] = torch.stack(rewards).mean(0) - mean
        cols[f"cos_{label}"] = torch.stack(cosines).nanmean(0)
        cols[f"cos_{label}_avg"] = _cos(total, target)
    has = sel.any(-1).cpu()
    names = list(cols)
    table = torch.stack([cols[k].double().cpu() for k in names], 1)[has].tolist()
    kind, samples = ("exact", seqs.shape[0]) if exact is not None else ("reinforce", s.draws)
    head = {"step": at.index, "bin": b, "lo": b / s.bins, "hi": (b + 1) / s.bins, "target": kind, "samples": samples}
    rows = has.nonzero().flatten().tolist()
    return [head | {"row": r} | dict(zip(names, vals, strict=True)) for r, vals in zip(rows, table, strict=True)]


def _forward(guidance, phi, tokens, reward_fn, sampler, at, draw, entropy, with_grad=False):
    """The reward of ``guidance``'s input at ``at.active`` (E_R[token] elsewhere) -> ([N], dR/dphi [N, G, V]
    or None), through the method's own ``relaxed_input`` and ``ascend`` (its hand-written backward)."""
    embeds, current, _, targets = guidance.relaxed_input(phi, tokens, reward_fn, sampler, at, draw, entropy)
    if not with_grad:
        return reward_fn.score(embeds, current, targets), None
    embeds.requires_grad_(True)
    with torch.enable_grad():
        reward = reward_fn.score(embeds, current, targets)
        (grad_embeds,) = torch.autograd.grad(-reward.sum(), embeds)
    grad = torch.zeros_like(phi)
    capture = GradientCapture(grad.view(-1, phi.shape[-1]))
    guidance.ascend(phi, grad_embeds, reward_fn, sampler, at, capture, at.active)
    return reward.detach(), grad.neg_()  # ascend descends on -R


def _enumerate(logp, sel, fixed, limit):
    """Every joint outcome of the ``sel`` positions of each trajectory under p (the others at ``fixed``),
    padded with weight 0: (seqs [J, N, G], probabilities [J, N] float64), or None when a trajectory has
    more than ``limit`` outcomes."""
    support = torch.isfinite(logp)
    log_joint = torch.where(sel, support.sum(-1).clamp_min(1).double().log(), 0.0).sum(-1)
    if limit <= 0 or float(log_joint.max()) > math.log(limit) + 1e-9:
        return None
    outcomes = []
    for row in range(sel.shape[0]):
        cols = sel[row].nonzero().flatten().tolist()
        options = [support[row, c].nonzero().flatten().tolist() for c in cols]
        outcomes.append((cols, list(itertools.product(*options)) if cols else []))
    count = max(len(o) for _, o in outcomes)
    seqs = fixed.expand(count, *fixed.shape).clone()
    weights = torch.zeros(count, sel.shape[0], dtype=torch.float64, device=logp.device)
    for row, (cols, combos) in enumerate(outcomes):
        if not combos:
            continue
        ids = torch.tensor(combos, dtype=torch.long, device=logp.device)  # [c, k]
        idx = torch.tensor(cols, dtype=torch.long, device=logp.device)
        seqs[: len(combos), row, idx] = ids
        lp = logp[row, idx].double()[torch.arange(len(cols), device=logp.device), ids]  # [c, k]
        weights[: len(combos), row] = lp.sum(-1).exp()
    return seqs, weights


def _hard_rewards(seqs, base, at, reward_fn, max_rows):
    """R of each hard sequence: seqs [J, N, G] at ``at.positions`` (the rest of ``base``) -> [J, N], the
    J sequences of a trajectory batched together against its context, ``max_rows`` rows per call."""
    count, n = seqs.shape[:2]
    full = torch.stack([at.scatter(base, seqs[j]) for j in range(count)], 1)  # [N, J, L]
    chunk, parts = max(1, max_rows // n), []
    for start in range(0, count, chunk):
        part = full[:, start : start + chunk]
        c = part.shape[1]
        ctx = reward_fn.context.repeat(c)
        rep = RelaxedReward(
            reward_fn.reward, reward_fn.bridge, ctx, reward_fn.stop_ids, bridge_ids=reward_fn.bridge_ids
        )
        ids = part.reshape(n * c, -1)
        parts.append(rep.score(rep.hard(ids), ids).view(n, c))
    return torch.cat(parts, 1).T


def _score_grad(seqs, weights, rewards, sel, vocab, tau):
    """grad_phi E_p[R] = sum_x p(x) (R(x) - E_p R) grad log p(x), whose log-softmax gradient
    (onehot(x) - p) / tau loses its p term against the centred weights: exact for enumerated outcomes
    with their probabilities, the score-function estimate with a mean baseline for draws. -> [N, G, V]"""
    w = weights / weights.sum(0).clamp_min(1e-300)  # a trajectory with nothing in the bin: all zero
    centred = w * (rewards - (w * rewards).sum(0))  # [J, N]
    count, n, width = seqs.shape
    out = torch.zeros(n, width, vocab, dtype=torch.float64, device=seqs.device)
    out.scatter_add_(-1, seqs.permute(1, 2, 0), centred.T.to(out.device)[:, None, :].expand(n, width, count))
    return out * sel[..., None] / tau


def _cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine per trajectory of [N, ...] tensors (float64; nan where either is zero)."""
    a, b = a.double().flatten(1), b.double().flatten(1).to(a.device)
    den = a.norm(dim=1) * b.norm(dim=1)
    return torch.where(den > 0, (a * b).sum(1) / den.clamp_min(1e-300), float("nan"))
