"""Numerical faults: a NaN / inf reward or gradient skips that trajectory's inner step and touches no
other trajectory; a non-finite final text score is recorded as null and left out of the means."""

import math

import pytest
import torch
from fakes import FaultyReward, HashJudge, TokenCountReward, linear_step

from entrgi.engine import rng
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, NoGuidance, RelaxedReward
from entrgi.engine.guidance.adam import RowAdam
from entrgi.engine.positions import StepPositions
from entrgi.engine.schedule import DenoisingSchedule, TokenSampler
from entrgi.engine.types import PromptItem
from entrgi.judges.apply import judge_records, judge_summary
from entrgi.outputs.records import prompt_means, to_records

PROMPTS = [PromptItem("a", "the cat"), PromptItem("b", "a big dog eat food today"), PromptItem("c", "rain")]


def optimize(faults, kind="nan_reward", inner_steps=3, n=4):
    logits, tokens, masked, obj = linear_step(n=n, length=6)
    obj = RelaxedReward(FaultyReward(obj.reward, faults, kind), obj.bridge, None, obj.stop_ids)
    at = StepPositions.every(0, rng.trajectory_keys(0, torch.arange(n), 1), masked)
    guide = GradientGuidance(weight="entropy", inner_steps=inner_steps, lr=0.5)
    return guide.optimize(logits.clone(), tokens, obj, TokenSampler(temperature=0.8, top_p=0.9), at), logits, masked


@pytest.mark.parametrize("kind", ["nan_reward", "nan_grad", "inf_grad"])
def test_a_fault_at_the_last_inner_step_drops_exactly_that_update(kind):
    """Rows 1 and 3 fault at inner step 2 of 3: their phi equals a clean run of 2 inner steps, bit for
    bit; rows 0 and 2 equal a clean run of 3."""
    (phi, stats), logits, masked = optimize({2: [1, 3]}, kind)
    (clean3, _), _, _ = optimize({})
    (clean2, _), _, _ = optimize({}, inner_steps=2)
    assert torch.isfinite(phi).all()
    assert torch.equal(phi[[0, 2]], clean3[[0, 2]])
    assert torch.equal(phi[[1, 3]], clean2[[1, 3]])
    assert not torch.equal(clean2[[1, 3]], clean3[[1, 3]])  # the dropped step did move them
    assert stats["faults"].tolist() == [0.0, 1.0, 0.0, 1.0]
    if kind == "nan_reward":
        assert torch.isfinite(stats["reward_soft_before"]).all()  # the fault came after the first inner step


def test_faults_at_every_inner_step_leave_phi_exactly_the_logits():
    (phi, stats), logits, masked = optimize({0: [2], 1: [2], 2: [2]}, "inf_grad")
    (clean, _), _, _ = optimize({})
    assert torch.equal(phi[2], logits[2].float())
    assert torch.equal(phi[[0, 1, 3]], clean[[0, 1, 3]])
    assert stats["faults"].tolist() == [0.0, 0.0, 3.0, 0.0]


def test_an_early_fault_poisons_nothing_later():
    """A NaN at inner step 0 of row 1: later steps still move it, to finite values; m and v took no NaN."""
    (phi, stats), logits, masked = optimize({0: [1]}, "nan_grad")
    (clean, _), _, _ = optimize({})
    assert torch.isfinite(phi).all()
    assert not torch.equal(phi[1][masked[1]], logits[1].float()[masked[1]])
    assert not torch.equal(phi[1], clean[1])
    assert torch.equal(phi[[0, 2, 3]], clean[[0, 2, 3]])
    assert stats["faults"].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_adam_skip_keeps_param_m_and_v_rows_and_leaves_the_rest_bit_identical():
    g = torch.Generator().manual_seed(1)
    start = torch.randn(4, 7, generator=g)
    grads = [torch.randn(4, 7, generator=g) for _ in range(3)]
    ours, plain = RowAdam(start.clone(), lr=0.3), RowAdam(start.clone(), lr=0.3)
    keep = torch.tensor([True, False, True, True])
    for step, grad in enumerate(grads):
        ours.begin_step()
        plain.begin_step()
        if step == 1:
            before = [x[1].clone() for x in (ours.param, ours.m, ours.v)]
            ours.update(slice(0, 4), torch.where(keep[:, None], grad, 0.0), keep)
            assert all(torch.equal(a, b[1]) for a, b in zip(before, (ours.param, ours.m, ours.v), strict=True))
        else:
            ours.update(slice(0, 2), grad[:2], torch.ones(2, dtype=torch.bool))  # all kept: the scalar path's bits
            ours.update(slice(2, 4), grad[2:])
        plain.update(slice(0, 4), grad)
    for a, b in zip((ours.param, ours.m, ours.v), (plain.param, plain.m, plain.v), strict=True):
        assert torch.equal(a[keep], b[keep])
        assert torch.isfinite(a).all()


def generate(lm, reward, guidance, steps=4, k=2):
    schedule = DenoisingSchedule(steps=steps, max_new_tokens=6, temperature=0.7, top_p=0.95)
    return GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=k, seed=5).generate(PROMPTS)


@pytest.mark.parametrize("kind", ["nan_reward", "inf_grad"])
def test_faulty_trajectories_do_not_touch_the_others_and_are_counted(lm, reward, kind):
    """3 prompts x K=2 = 6 trajectories, 4 steps x M=2 inner steps (reward call c = 2 * step + inner)."""
    injected = {1: [2], 4: [2, 5], 7: [0]}  # step 0: row 2; step 2: rows 2, 5; step 3: row 0
    faulty = generate(lm, FaultyReward(reward, injected, kind), GradientGuidance(inner_steps=2))
    clean = generate(lm, FaultyReward(reward, {}, kind), GradientGuidance(inner_steps=2))
    tokens, clean_tokens = faulty.tokens.view(6, -1), clean.tokens.view(6, -1)
    assert torch.equal(tokens[[1, 3, 4]], clean_tokens[[1, 3, 4]])
    assert not torch.equal(tokens, clean_tokens)  # a dropped update changed some faulty trajectory
    expected = torch.zeros(6, 4)
    expected[2, 0] = expected[2, 2] = expected[5, 2] = expected[0, 3] = 1.0
    assert torch.equal(faulty.trace["faults"].view(6, 4), expected)
    assert faulty.counters["faults"] == 4 and clean.counters["faults"] == 0
    assert torch.equal(clean.trace["faults"], torch.zeros(3, 2, 4))
    for key in ("entropy_mean", "w_mean", "reward_soft_after"):  # the others' traces are a clean run's
        assert torch.equal(faulty.trace[key].view(6, 4)[[1, 3, 4]], clean.trace[key].view(6, 4)[[1, 3, 4]]), key


class NanTextReward(TokenCountReward):
    """Text scores with NaN / inf at chosen (row of B*K) positions."""

    def __init__(self, tokenizer, bad: dict[int, float]):
        super().__init__(tokenizer, "good")
        self.bad = bad

    def score_text(self, messages, responses):
        scores = super().score_text(messages, responses) + torch.arange(len(responses)) * 0.5  # distinct
        for row, value in self.bad.items():
            scores[row] = value
        return scores


def test_nonfinite_text_scores_are_null_and_left_out_of_the_means(lm):
    k = 3  # prompt a: rows 0..2, b: 3..5, c: 6..8
    reward = NanTextReward(
        lm.tokenizer,
        {1: float("nan"), 3: float("inf"), 5: float("-inf"), 6: float("nan"), 7: float("nan"), 8: float("nan")},
    )
    out = generate(lm, reward, NoGuidance(), k=k)
    assert out.counters["faults"] == 0
    records = to_records(out, "bon", 5)
    a, b, c = records
    clean = out.rewards[0].tolist()
    assert a["rewards"] == [round(clean[0], 6), None, round(clean[2], 6)]
    best = 2 if clean[2] > clean[0] else 0
    assert a["best_index"] == best and a["top1_reward"] == round(clean[best], 6)
    assert a["avgN_reward"] == round((clean[0] + clean[2]) / 2, 6)
    assert a["nonfinite_rewards"] == 1
    assert b["rewards"][0] is None and b["rewards"][2] is None and b["best_index"] == 1
    assert b["top1_reward"] == b["avgN_reward"] == round(out.rewards[1, 1].item(), 6)
    assert c["rewards"] == [None] * 3 and c["best_index"] is None
    assert c["top1_reward"] is None and c["avgN_reward"] is None and c["nonfinite_rewards"] == 3
    metrics = prompt_means(records)
    assert metrics["nonfinite_rewards"] == 6 and metrics["num_prompts"] == 3
    assert metrics["top1_reward_mean"] == pytest.approx((a["top1_reward"] + b["top1_reward"]) / 2)
    assert metrics["avgN_reward_mean"] == pytest.approx((a["avgN_reward"] + b["avgN_reward"]) / 2)
    assert all(math.isfinite(metrics[key]) for key in ("top1_reward_mean", "avgN_reward_mean"))
    judge_records(records, HashJudge())  # a null best_index has no Top@1 response to judge
    assert all(len({f["score"] for f in r["judge_all"]}) == k for r in (a, b))  # the judge tells them apart
    top1_a, top1_b = HashJudge.fields(a["responses"][best]), HashJudge.fields(b["responses"][1])
    assert a["judge"] == top1_a and b["judge"] == top1_b and c["judge"] is None
    assert judge_summary(records)["judge_score_mean"] == pytest.approx((top1_a["score"] + top1_b["score"]) / 2)
    # a clean run: no nulls, the count is 0, and no record carries the key
    clean_out = generate(lm, NanTextReward(lm.tokenizer, {}), NoGuidance(), k=k)
    clean_records = to_records(clean_out, "bon", 5)
    assert prompt_means(clean_records)["nonfinite_rewards"] == 0
    assert not any("nonfinite_rewards" in r for r in clean_records)
    assert [r["best_index"] for r in clean_records] == clean_out.rewards.argmax(-1).tolist()
