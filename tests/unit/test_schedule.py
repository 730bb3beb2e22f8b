import math

import pytest
import torch

from entrgi.engine import rng
from entrgi.engine.positions import StepPositions
from entrgi.engine.schedule import DenoisingSchedule, TokenSampler
from entrgi.engine.schedule.timesteps import commit_counts, timesteps

MASK, EOS = 99, 0


def step_every(sched, step, tokens, logits, keys, max_chunk_bytes=2**20):
    """One schedule step over every response position (logits [N, L, V])."""
    at = StepPositions.every(step, keys, tokens == MASK, max_chunk_bytes)
    pre = sched.pre_guidance(logits.view(-1, logits.shape[-1]))
    pre = None if pre is None else pre.view(logits.shape[:2])
    return sched.step(at, sched.timesteps(), tokens, logits, torch.tensor([EOS]), pre)


def run_schedule(sched, n=3, length=10, vocab=100, seed=0, logits_fn=None, max_chunk_bytes=2**20):
    """Drive the schedule with fixed random logits; returns per-step commit counts and final tokens."""
    keys = rng.trajectory_keys(seed, torch.arange(n), 1)
    tokens = torch.full((n, length), MASK)
    counts = []
    g = torch.Generator().manual_seed(seed)
    for step in range(sched.steps):
        masked = tokens == MASK
        logits = logits_fn(step) if logits_fn else torch.randn(n, length, vocab, generator=g)
        logits[..., MASK] = -1e9
        out = step_every(sched, step, tokens, logits, keys, max_chunk_bytes)
        assert not (out.committed & ~masked).any(), "committed an already-unmasked position"
        counts.append(out.committed.sum(-1))
        tokens = out.tokens
    return torch.stack(counts), tokens


@pytest.mark.parametrize("alg", ["entropy", "maskgit_plus", "topk_margin", "anchor", "origin"])
@pytest.mark.parametrize("alg_temp", [0.0, 0.5])
def test_every_position_committed_after_T_steps(alg, alg_temp):
    sched = DenoisingSchedule(steps=6, max_new_tokens=10, temperature=0.7, top_p=0.9, alg=alg, alg_temp=alg_temp)
    counts, tokens = run_schedule(sched)
    assert (tokens != MASK).all()
    assert counts.sum(0).tolist() == [10, 10, 10]


def test_chunking_does_not_change_a_step():
    """Rows processed one by one (a 1-byte budget) or all at once give the same step."""
    for alg in ["entropy", "maskgit_plus", "topk_margin", "anchor"]:
        sched = DenoisingSchedule(steps=6, max_new_tokens=10, temperature=0.7, top_p=0.9, alg=alg)
        one_row, _ = run_schedule(sched, max_chunk_bytes=1)
        all_rows, _ = run_schedule(sched, max_chunk_bytes=2**30)
        assert torch.equal(one_row, all_rows)


def test_entropy_confidence_is_the_unfiltered_negative_entropy_of_the_pre_guidance_logits():
    """alg=entropy ranks by sum p log p of softmax(logits / tau) (no top-p), computed before guidance;
    a direct implementation on a case where the top-p filter would change the ranking."""
    tau, vocab = 0.7, 50
    logits = torch.full((1, 3, vocab), 0.0)  # position 2: flat, the least confident either way
    logits[0, 0, 1] = 4.0  # position 0: one dominant token, long flat tail
    logits[0, 1, 1] = logits[0, 1, 2] = 2.0  # position 1: two tokens, tail far below
    logits[0, 1, 3:] = -30.0
    p = torch.softmax(logits / tau, -1)
    direct = (p * p.log()).sum(-1)  # [1, 2]
    assert direct[0, 1] > direct[0, 0] > direct[0, 2]  # position 1 is the more confident without the filter ...
    filtered = TokenSampler(tau, top_p=0.5).log_probs(logits)
    assert (filtered.exp() * filtered.clamp_min(-1e30)).sum(-1)[0, 0] > direct[0, 1]  # ... not with it
    sched = DenoisingSchedule(steps=2, max_new_tokens=3, temperature=tau, top_p=0.5, alg="entropy")
    torch.testing.assert_close(sched.pre_guidance(logits[0]), direct[0])
    keys = rng.trajectory_keys(0, torch.tensor([0]), 1)
    out = step_every(sched, 0, torch.full((1, 3), MASK), logits, keys)
    assert out.committed.tolist() == [[False, True, False]]  # floor(3 * (1 - s/t)) = 1 position, the confident one


def test_commit_counts_follow_formula():
    sched = DenoisingSchedule(steps=5, max_new_tokens=16, alg="maskgit_plus")
    counts, _ = run_schedule(sched, length=16)
    ts = timesteps(5)
    remaining, expected = 16, []
    for i in range(5):
        c = remaining if i == 4 else math.floor(remaining * (1 - ts[i + 1].item() / ts[i].item()))
        expected.append(c)
        remaining -= c
    assert counts[:, 0].tolist() == expected
    assert expected[:4] == [3, 3, 3, 3] and expected[4] == 4  # 16 * (1 - s/t) with t = 1 - i/5 (approx.)
    assert commit_counts(torch.tensor([7]), ts[0], ts[1], last=True).tolist() == [7]


def test_eos_deprioritized():
    """EOS samples are the most confident, yet with de-prioritization the others go first."""
    length, vocab = 8, 100
    logits = torch.full((1, length, vocab), -20.0)
    logits[0, 4:, EOS] = 10.0  # four positions near-certain of EOS
    logits[0, :4, 5] = logits[0, :4, 6] = 3.0  # four positions split between tokens 5 and 6
    for deprioritize, expect_eos in [(True, False), (False, True)]:
        sched = DenoisingSchedule(steps=2, max_new_tokens=length, alg="maskgit_plus", eos_deprioritize=deprioritize)
        keys = rng.trajectory_keys(3, torch.tensor([0]), 1)
        out = step_every(sched, 0, torch.full((1, length), MASK), logits, keys)
        chosen = out.sampled[out.committed]
        assert chosen.numel() == 3  # floor(8 * (1 - s/t)) with T = 2
        assert bool((chosen == EOS).all()) == expect_eos
        assert bool((chosen == EOS).any()) == expect_eos


def test_top_p_and_top_k_filter():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    keep = torch.isfinite(TokenSampler(1.0, top_p=0.79).log_probs(logits))  # mass before the third: 0.8
    assert keep.tolist() == [[True, True, False, False]]
    keep = torch.isfinite(TokenSampler(1.0, top_p=0.81).log_probs(logits))
    assert keep.tolist() == [[True, True, True, False]]
    keep = torch.isfinite(TokenSampler(1.0, top_k=1).log_probs(logits))
    assert keep.tolist() == [[True, False, False, False]]


def test_sampler_matches_distribution():
    probs = torch.tensor([0.1, 0.6, 0.3])
    keys = rng.trajectory_keys(0, torch.arange(20000), 1)
    u = rng.uniform(keys, 0, 1)[:, 0]
    draws = TokenSampler().draw(probs.log().expand(20000, 3), u)
    freq = torch.bincount(draws, minlength=3).float() / 20000
    assert torch.allclose(freq, probs, atol=0.015)


def test_keyed_uniforms_depend_only_on_key():
    a = rng.uniform(rng.trajectory_keys(1, torch.tensor([5, 6, 7]), 2), 4, 16)
    b = rng.uniform(rng.trajectory_keys(1, torch.tensor([7]), 2), 4, 16)
    assert torch.equal(a[4:], b)
    assert not torch.equal(a[0], a[1])
    c = rng.uniform(rng.trajectory_keys(2, torch.tensor([7]), 2), 4, 16)
    assert not torch.equal(b, c)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"steps": 0}, "schedule.steps"),
        ({"steps": -3}, "schedule.steps"),
        ({"max_new_tokens": 0}, "schedule.max_new_tokens"),
        ({"top_p": 0.0}, "schedule.top_p"),
        ({"top_p": 1.5}, "schedule.top_p"),
        ({"temperature": 0}, "schedule.temperature"),
        ({"top_k": 0}, "schedule.top_k"),
        ({"alg": "confidence"}, "schedule.alg"),
        ({"alg_temp": -1.0}, "schedule.alg_temp"),
    ],
)
def test_bad_schedule_values_name_the_key(kwargs, key):
    args = {"steps": 4, "max_new_tokens": 8} | kwargs
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        DenoisingSchedule(**args)
