"""The soft-input probe (entrgi.engine.probe) on rewards whose answers are known by construction.

A linear reward reads a soft input exactly as the mean of its hard draws (gap 0 in every bin) and its
gradient is the same wherever it is taken (every method's gradient is the expected hard reward's:
cosine 1 when that is enumerated). A quadratic one, R = sum_l (v . e_l)^2, has gap -Var_p(v . E_R[x])
per position and a known expected-hard-reward gradient.
"""

from __future__ import annotations

import math

import pytest
import torch
from fakes import LinearReward, linear_step

from entrgi.engine.guidance import RelaxedReward, normalized_entropy
from entrgi.engine.positions import StepPositions
from entrgi.engine.probe import ProbeSettings, SoftReadProbe, measure, stage_steps
from entrgi.engine.schedule.sampling import TokenSampler

TAU = 0.7


class QuadraticReward(LinearReward):
    """score = sum over attended positions of <embedding, direction>^2 (used by this module only)."""

    def score_embeds(self, ctx, response_embeds, response_mask):
        self.calls += 1
        return (((response_embeds @ self.direction) ** 2) * response_mask).sum(-1)


def _step(reward_cls=LinearReward, n=2, length=5, vocab=5, dim=6, seed=0, gathered=False):
    """A float64 step with stop token 0 never drawn (its logit -1e9), so the response mask never moves."""
    logits, tokens, masked, reward_fn = linear_step(n, length, vocab, dim, seed)
    logits[..., 0] = -1e9
    if gathered:  # the denoiser's path: the same number of masked positions in every row
        masked = torch.zeros_like(masked)
        masked[:, [0, 2, 3]] = True
    reward = reward_cls(dim)
    reward_fn = RelaxedReward(reward, reward_fn.bridge, reward.context([[]] * n), reward_fn.stop_ids)
    keys = torch.arange(n, dtype=torch.long) + 11
    if gathered:
        at = StepPositions.masked(3, keys, masked, 3, 1)
        logits = at.gather(logits)
    else:
        at = StepPositions.every(3, keys, masked)
    return logits, tokens, reward_fn, at


@pytest.mark.parametrize("gathered", [False, True])
def test_linear_reward_soft_equals_hard_and_every_gradient_is_exact(gathered):
    logits, tokens, reward_fn, at = _step(gathered=gathered)
    settings = ProbeSettings(bins=2, draws=8, st_draws=3, exact_limit=4096)
    rows = measure(logits, tokens, reward_fn, TokenSampler(TAU), at, normalized_entropy(logits), settings)
    assert rows and {r["target"] for r in rows} == {"exact"}
    assert sum(r["positions"] for r in rows) == int(at.active.sum())
    for r in rows:
        assert r["gap"] == pytest.approx(0.0, abs=1e-5) and r["gap_expectation"] == pytest.approx(0.0, abs=1e-5)
        assert r["hard_sd"] > 0
        for method in ("expectation", "aps", "entrgi"):  # the gradient of a linear R does not depend on the input
            assert r[f"cos_{method}"] == pytest.approx(1.0, abs=1e-6), (method, r)
            assert r[f"cos_{method}_avg"] == pytest.approx(1.0, abs=1e-6)


def test_linear_reward_score_function_estimate_agrees():
    logits, tokens, reward_fn, at = _step()
    settings = ProbeSettings(bins=1, draws=4000, st_draws=1, exact_limit=0)
    rows = measure(logits, tokens, reward_fn, TokenSampler(TAU), at, None, settings)
    assert {r["target"] for r in rows} == {"reinforce"}
    for r in rows:
        assert abs(r["gap"]) < 4 * r["hard_sd"] / math.sqrt(4000)  # soft = the mean, within its sampling error
        assert r["cos_expectation"] > 0.95 and r["split_cos"] > 0.9


def test_quadratic_reward_gap_and_gradient_match_the_analytic_answer():
    logits, tokens, reward_fn, at = _step(QuadraticReward)
    rows = measure(
        logits, tokens, reward_fn, TokenSampler(TAU), at, None, ProbeSettings(bins=1, draws=4, exact_limit=4096)
    )
    a = reward_fn.bridge @ reward_fn.reward.direction  # [V]: v . E_R[x]
    p = torch.softmax(logits / TAU, -1)  # top_p = 1: the draws' distribution is the soft one
    mean, second = p @ a, p @ a**2
    target = p * (a**2 - second[..., None]) / TAU  # grad of E_p (v . E_R[x])^2 per position
    soft_grad = 2 * mean[..., None] * p * (a - mean[..., None]) / TAU  # grad of (v . E_R q)^2
    for r in rows:
        sel = at.active[r["row"]]
        assert r["target"] == "exact"
        assert r["gap"] == pytest.approx(-(second - mean**2)[r["row"]][sel].sum().item(), rel=1e-4, abs=1e-6)
        cos = torch.nn.functional.cosine_similarity(
            soft_grad[r["row"]][sel].flatten(), target[r["row"]][sel].flatten(), dim=0
        )
        assert r["cos_expectation"] == pytest.approx(cos.item(), abs=1e-5)
        assert r["cos_expectation"] < 0.999  # the soft reading bends the gradient


def test_the_probe_returns_the_logits_unchanged_and_measures_only_its_steps():
    logits, tokens, reward_fn, at = _step()
    probe = SoftReadProbe([3], ProbeSettings(bins=2, draws=4, st_draws=2))
    assert probe.guides(3, 10) and not probe.guides(2, 10)
    before = logits.clone()
    phi, stats = probe.optimize(logits, tokens, reward_fn, TokenSampler(TAU), at, None)
    assert phi is logits and torch.equal(phi, before) and stats == {}
    assert probe.rows and {r["step"] for r in probe.rows} == {3}


def test_stage_steps_and_bad_settings():
    assert stage_steps([0.25, 0.5, 0.75], 48) == [12, 24, 36]
    assert stage_steps([0.0, 0.999], 4) == [0, 3]
    with pytest.raises(ValueError, match="probe.stages"):
        stage_steps([1.0], 4)
    with pytest.raises(ValueError, match="probe.draws"):
        ProbeSettings(draws=1)
    with pytest.raises(ValueError, match="probe.bins"):
        ProbeSettings(bins=0)
    with pytest.raises(ValueError, match="guidance.weight"):
        SoftReadProbe([1], ProbeSettings(methods=("bogus",)))


def test_unfiltered_draws_make_the_soft_input_expectations():
    logits, tokens, reward_fn, at = _step(QuadraticReward)
    sampler = TokenSampler(TAU, top_p=0.6)  # a filter that cuts: the filtered soft input differs
    for filtered in (True, False):
        rows = measure(logits, tokens, reward_fn, sampler, at, None, ProbeSettings(bins=1, draws=4, filtered=filtered))
        same = [r["gap"] == pytest.approx(r["gap_expectation"], abs=1e-5) for r in rows]
        assert all(same) if not filtered else not all(same)


def test_the_report_pools_stages_and_derives_its_columns():
    from entrgi.analysis.probe_report import markdown_table, summarize

    def row(step, b, gap, sd, split, **cos):
        cols = {f"cos_{m}": c for m, c in cos.items()} | {f"cos_{m}_avg": c for m, c in cos.items()}
        return {"stage": step / 8, "step": step, "bin": b, "lo": b / 2, "hi": (b + 1) / 2, "row": 0, "samples": 8,
                "target": "reinforce", "positions": 2, "entropy": 0.5, "support": 3.0, "soft": 1.0, "hard_mean": 1.0,
                "hard_sd": sd, "gap": gap, "split_cos": split, "gap_expectation": gap, **cols}  # fmt: skip

    rows = [row(2, 1, 1.0, 2.0, 0.6, expectation=0.5), row(4, 1, 3.0, 2.0, 0.6, expectation=0.7)]
    table = summarize(rows)
    assert [(r["stage"], r["bin"]) for r in table] == [("0.25", 1), ("0.5", 1), ("all", 1)]
    pooled = table[-1]
    assert pooled["trajectories"] == 2 and pooled["positions"] == 4 and pooled["gap"] == pytest.approx(2.0)
    assert pooled["gap_per_sd"] == pytest.approx(1.0) and pooled["cos_expectation"] == pytest.approx(0.6)
    assert pooled["target_cos"] == pytest.approx(math.sqrt(1.2 / 1.6)) and pooled["target"] == "reinforce (8 draws)"
    text = markdown_table(table, ["expectation"])
    assert text.count("\n") == 2 + len(table) and "ceiling 0.87" in text
