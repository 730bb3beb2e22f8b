import pytest
import torch
from fakes import TokenCountReward
from host_reads import count_host_reads

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, Guidance, NoGuidance
from entrgi.engine.guidance.relaxed_reward import before_first_stop
from entrgi.engine.positions import StepPositions
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.trace import DENOISER_KEYS, concat_traces
from entrgi.engine.types import PromptItem

ENTRGI_STATS = ("w_mean", "w_min", "w_max", "reward_soft_before", "reward_soft_after", "guided", "faults")
PROMPTS = [
    PromptItem(f"p{i}", text)
    for i, text in enumerate(
        ["the cat", "a big dog eat food today and night", "music", "rain or sun", "the bird song", "red tree"]
    )
]


def make(lm, reward, guidance, steps=4, length=8, k=2, seed=0, **sched):
    schedule = DenoisingSchedule(steps=steps, max_new_tokens=length, temperature=0.7, top_p=0.95, **sched)
    return GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=k, seed=seed)


@pytest.mark.parametrize("weight", ["zero", "one", "entropy"])
def test_guidance_raises_target_token_frequency_over_bon(lm, weight):
    """A reward paying for one token: every gradient method uses it far more often than BoN."""
    reward = TokenCountReward(lm.tokenizer, "good")
    length, k = 8, 4

    def frequency(guidance):
        out = make(lm, reward, guidance, steps=4, length=length, k=k, seed=3).generate(PROMPTS)
        return (out.tokens == reward.target_id).float().mean().item(), out

    bon, bon_out = frequency(NoGuidance())
    guided, out = frequency(GradientGuidance(weight=weight, inner_steps=3, lr=0.5))
    assert bon < 0.1
    assert guided > bon + 0.25, (weight, bon, guided)
    # the text score counts the target tokens before the first stop token
    live = before_first_stop(out.tokens, torch.tensor(lm.stop_token_ids))
    counts = ((out.tokens == reward.target_id) & live).sum(-1).float()
    assert torch.equal(out.rewards, counts)


def test_batch_invariance_alone_vs_left_padded_batch(lm, reward):
    """A prompt's tokens do not depend on the batch it ran in (fp32, CPU)."""
    guidance = GradientGuidance(weight="entropy", inner_steps=2, lr=0.5)
    denoiser = make(lm, reward, guidance, steps=4, length=8, k=2, seed=7)
    batch = PROMPTS[:3]
    lengths = [len(lm.tokenizer.apply_chat_template(p.messages(), add_generation_prompt=True)) for p in batch]
    assert len(set(lengths)) == 3  # genuinely different prompt lengths -> left padding
    together = denoiser.generate(batch)
    for i, item in enumerate(batch):
        alone = denoiser.generate([item])
        assert torch.equal(alone.tokens[0], together.tokens[i])
        assert alone.responses[0] == together.responses[i]
        torch.testing.assert_close(alone.rewards[0], together.rewards[i], atol=1e-5, rtol=1e-5)
    # trajectories of one prompt differ, and seeds matter
    assert not torch.equal(together.tokens[0, 0], together.tokens[0, 1])
    other_seed = make(lm, reward, guidance, steps=4, length=8, k=2, seed=8).generate(batch)
    assert not torch.equal(other_seed.tokens, together.tokens)


@pytest.mark.parametrize(
    "guidance, sched",
    [
        (GradientGuidance(weight="entropy", inner_steps=2, lr=0.5), {}),
        (GradientGuidance(weight="one", inner_steps=2, lr=0.5), {"alg": "maskgit_plus", "alg_temp": 0.5}),
        (NoGuidance(), {"alg": "topk_margin"}),
        (GradientGuidance(weight="zero", inner_steps=1, lr=0.5), {"alg": "anchor", "eos_deprioritize": False}),
    ],
)
def test_masked_only_work_gives_the_same_generations(lm, reward, guidance, sched):
    """Vocabulary-sized work on the gathered masked positions only == on every position."""
    outs = []
    for masked_only in (True, False):
        den = make(lm, reward, guidance, steps=5, length=8, k=2, seed=5, **sched)
        den.masked_only = masked_only
        outs.append(den.generate(PROMPTS[:3]))
    fast, full = outs
    assert torch.equal(fast.tokens, full.tokens)
    assert fast.responses == full.responses
    assert list(fast.trace) == list(full.trace)
    for key in fast.trace:
        assert torch.allclose(fast.trace[key], full.trace[key], atol=1e-5, equal_nan=True), key
    assert torch.allclose(fast.entropy_map, full.entropy_map, atol=1e-6, equal_nan=True)
    assert torch.isnan(fast.entropy_map).any() and not torch.isnan(fast.entropy_map).all()


def test_masked_only_step_refuses_origin():
    schedule = DenoisingSchedule(steps=2, max_new_tokens=4, alg="origin")
    tokens = torch.zeros(1, 4, dtype=torch.long)
    at = StepPositions.masked(0, torch.zeros(1, dtype=torch.long), tokens == 0, 4, 2)
    with pytest.raises(ValueError, match="origin"):
        schedule.step(at, schedule.timesteps(), tokens, torch.zeros(1, 4, 5), torch.tensor([1]))


@pytest.mark.parametrize("guidance", [NoGuidance(), GradientGuidance(weight="entropy", inner_steps=2)])
def test_chunk_budget_does_not_change_generations(lm, reward, guidance):
    """One row per chunk (a 1-byte budget) == the default budget, token for token."""
    outs = []
    for budget in (1, 2**26):
        den = make(lm, reward, guidance, steps=4, length=8, k=2, seed=4)
        den.max_chunk_bytes = budget
        outs.append(den.generate(PROMPTS[:2]))
    assert torch.equal(outs[0].tokens, outs[1].tokens)
    assert list(outs[0].trace) == list(outs[1].trace)
    for key in outs[0].trace:
        assert torch.allclose(outs[0].trace[key], outs[1].trace[key], atol=1e-5, equal_nan=True), key


def test_bad_chunk_budget_is_refused(lm, reward):
    with pytest.raises(ValueError, match="max_chunk_bytes"):
        GuidedDenoiser(lm, reward, NoGuidance(), DenoisingSchedule(steps=2, max_new_tokens=4), max_chunk_bytes=0)


def test_commit_plan_is_the_device_formula_step_by_step():
    from entrgi.engine.schedule.timesteps import commit_counts

    for steps in [1, 2, 3, 7, 32, 48, 128]:
        for length in [1, 5, 13, 48, 128, 500]:
            schedule = DenoisingSchedule(steps=steps, max_new_tokens=length)
            ts, n, expected = schedule.timesteps(), length, []
            for step in range(steps):
                c = int(commit_counts(torch.tensor([n]), ts[step], ts[step + 1], step == steps - 1)[0])
                expected.append(c)
                n -= c
            assert schedule.commit_plan(length) == expected, (steps, length)


def test_commit_plan_commits_every_position_by_the_last_step():
    schedule = DenoisingSchedule(steps=7, max_new_tokens=13)
    plan = schedule.commit_plan(13)
    assert sum(plan) == 13 and len(plan) == 7 and plan[-1] > 0


def test_output_shapes_trace_and_counters(lm, reward):
    steps, length, k = 5, 8, 3
    out = make(lm, reward, GradientGuidance(weight="entropy", inner_steps=2), steps=steps, length=length, k=k).generate(
        PROMPTS[:2]
    )
    assert out.tokens.shape == (2, k, length) and out.rewards.shape == (2, k)
    assert not (out.tokens == lm.mask_token_id).any()
    assert list(out.trace) == list(dict.fromkeys([*DENOISER_KEYS, *ENTRGI_STATS]))  # the denoiser's, then the method's
    for v in out.trace.values():
        assert v.shape == (2, k, steps)
    assert torch.equal(out.trace["committed"].sum(-1), torch.full((2, k), float(length)))
    first = out.trace["entropy_mean"][..., 0]
    assert ((first > 0) & (first <= 1)).all()
    assert torch.isfinite(out.trace["reward_soft_before"]).all()
    assert torch.isfinite(out.trace["w_mean"][..., :-1]).all()
    assert out.entropy_map.shape == (2, steps, length)
    assert torch.isfinite(out.entropy_map[:, 0]).all()  # everything masked at step 0
    # 1 dLLM call per step; the prompt-prefix cache once, per step 2 inner + 1 final reward
    # calls, and one text-scoring call
    assert out.counters["dllm_calls"] == steps and out.counters["guided_steps"] == steps
    assert out.counters["reward_calls"] == out.counters["reward_forwards"] == 1 + steps * 3 + 1
    assert out.counters["reward_backwards"] == steps * 2
    assert out.counters["faults"] == 0 and torch.equal(out.trace["faults"], torch.zeros(2, k, steps))  # no NaN here
    bon = make(lm, reward, NoGuidance(), steps=steps, length=length, k=k).generate(PROMPTS[:2])
    assert bon.counters["reward_calls"] == 1
    assert list(bon.trace) == list(DENOISER_KEYS) and (bon.trace["guided"] == 0).all()  # BoN reports nothing
    assert bon.counters["faults"] == 0 and (out.trace["guided"] == 1).all()


def test_no_host_sync_inside_the_denoising_loop(lm, reward, monkeypatch):
    """Host reads (.item / .tolist / bool / int / float / nonzero) made by entrgi's code do not grow
    with the number of denoising steps, on the code path CUDA takes (top-p by bisection; the CPU
    path's candidate and bucket searches read the host on purpose, which is free there).
    transformers' own mask helpers may check a padding mask on the host per model call; that is
    theirs and not counted."""
    from entrgi.engine.schedule import top_p

    counts = count_host_reads(monkeypatch)

    def run(steps):
        counts.clear()
        make(lm, reward, GradientGuidance(inner_steps=2), steps=steps, length=8, k=2).generate(PROMPTS[:2])
        return dict(counts)

    assert run(2) == run(8)
    monkeypatch.setattr(top_p, "auto_method", lambda device: "candidates")
    assert run(2) != run(8)  # the CPU path's reads are seen: the counting works


class LateStat(Guidance):
    """Leaves the logits alone; reports ``late`` (the step index) from step ``start`` on, and ``guided`` 0.5."""

    requires_reward = False
    name = "late"

    def __init__(self, start=2, stats=None):
        self.start, self.stats, self.step = start, stats, -1

    def optimize(self, logits, tokens, reward_fn, sampler, at, entropy=None):
        self.step += 1
        n = logits.shape[0]
        if self.stats is not None:
            return logits, self.stats(n)
        if self.step < self.start:
            return logits, {}
        return logits, {"late": torch.full((n,), float(self.step)), "guided": torch.full((n,), 0.5)}


def test_a_method_statistic_first_seen_later_is_nan_before(lm, reward):
    steps, k = 5, 2
    out = make(lm, reward, LateStat(start=2), steps=steps, k=k).generate(PROMPTS[:2])
    bon = make(lm, reward, NoGuidance(), steps=steps, k=k).generate(PROMPTS[:2])
    assert torch.equal(out.tokens, bon.tokens)  # logits passed through: unguided sampling
    assert list(out.trace) == [*DENOISER_KEYS, "late"] and out.trace["late"].shape == (2, k, steps)
    assert torch.isnan(out.trace["late"][..., :2]).all()
    assert torch.equal(out.trace["late"][..., 2:], torch.tensor([2.0, 3.0, 4.0]).expand(2, k, 3))
    # guided: the denoiser's 1.0 at guided steps until the method reports its own
    assert torch.equal(out.trace["guided"][0, 0], torch.tensor([1.0, 1.0, 0.5, 0.5, 0.5]))
    assert out.counters["guided_steps"] == steps and out.counters["faults"] == 0


@pytest.mark.parametrize(
    "stats, message",
    [
        (lambda n: {"late": torch.zeros(n + 1)}, r"stats\['late'\] of shape \(5,\).*\[N\] = \[4\]"),
        (lambda n: {"late": 1.0}, r"stats\['late'\] of shape float"),
        (lambda n: {"entropy_mean": torch.zeros(n)}, "'entropy_mean', which the denoiser records itself"),
        (lambda n: {"committed": torch.zeros(n)}, "'committed'"),
        (lambda n: {3: torch.zeros(n)}, "named 3"),
    ],
)
def test_malformed_statistics_are_refused_naming_the_method_and_key(lm, reward, stats, message):
    with pytest.raises((ValueError, TypeError), match=message) as err:
        make(lm, reward, LateStat(stats=stats), steps=2, k=2).generate(PROMPTS[:2])
    assert "LateStat.optimize" in str(err.value)


def test_split_batch_traces_concatenate_with_nan_for_missing_keys():
    a = {"entropy_mean": torch.zeros(2, 3, 4), "late": torch.ones(2, 3, 4)}
    b = {"entropy_mean": torch.ones(1, 3, 4), "other": torch.full((1, 3, 4), 2.0)}
    out = concat_traces([a, {}, b], [2, 0, 1])
    assert list(out) == ["entropy_mean", "late", "other"] and all(v.shape == (3, 3, 4) for v in out.values())
    assert torch.equal(out["entropy_mean"][:, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    assert torch.equal(out["late"][:2], a["late"]) and torch.isnan(out["late"][2]).all()
    assert torch.isnan(out["other"][:2]).all() and (out["other"][2] == 2).all()
    assert concat_traces([{}, {}], [0, 0]) == {}
