"""Particles (FK steering / reward SMC): the arithmetic against hand computations, the resampling
distributions, and the denoiser with particles on (identity at lam = 0, divergence of copies, batch
independence, a preferred token made more frequent, no host sync)."""

import math

import pytest
import torch
from fakes import TokenCountReward
from host_reads import count_host_reads

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, NoGuidance
from entrgi.engine.particles import FKSteering, ParticleState
from entrgi.engine.particles.potentials import log_potential
from entrgi.engine.particles.resampling import effective_sample_size, multinomial, systematic
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.types import PromptItem

PROMPTS = [PromptItem(f"p{i}", t) for i, t in enumerate(["the cat", "a big dog eat food", "music", "rain or sun"])]
R = [torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.0]), torch.tensor([1.0, 3.0])]  # three evaluations, 2 particles


def make(lm, reward, guidance, particles=None, steps=4, length=8, k=4, seed=0):
    schedule = DenoisingSchedule(steps=steps, max_new_tokens=length, temperature=0.7, top_p=0.95)
    return GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=k, seed=seed, particles=particles)


@pytest.mark.parametrize("potential", ["diff", "max", "add", "current"])
def test_each_potential_and_the_final_correction(potential):
    lam, prev, applied, total = 0.7, torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64), []
    for i, r in enumerate(R):
        last = i == len(R) - 1
        got = log_potential(potential, lam, r, prev, applied, last=last)
        rd, pd = r.double(), prev
        want = {
            "diff": lam * (rd - pd),
            "max": lam * torch.maximum(rd, pd),
            "add": lam * (rd + pd),
            "current": lam * rd,
        }[potential]
        if last and potential != "diff":
            want = lam * rd - applied  # divides by the potentials already applied
        torch.testing.assert_close(got, want)
        applied, prev = applied + got, rd
        total.append(got)
    torch.testing.assert_close(sum(total), lam * R[-1].double())  # every potential targets exp(lam r_final)


def test_linear_annealing_telescopes_to_lam_times_the_final_reward():
    lam, steps, evals = 2.0, 8, [1, 3, 7]  # evaluations after steps 1, 3 and 7 (the last)
    prev, lam_prev, total = torch.zeros(2, dtype=torch.float64), 0.0, 0
    for r, step in zip(R, evals, strict=True):
        lam_now = lam * (step + 1) / steps
        got = log_potential(
            "diff", lam, r, prev, prev, last=step == steps - 1, anneal="linear", lam_now=lam_now, lam_prev=lam_prev
        )
        torch.testing.assert_close(got, lam_now * r.double() - lam_prev * prev)
        total, prev, lam_prev = total + got, r.double(), lam_now
    torch.testing.assert_close(total, lam * R[-1].double())


def test_ess_and_the_adaptive_threshold():
    logw = torch.log(torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]], dtype=torch.float64))
    torch.testing.assert_close(effective_sample_size(logw), torch.tensor([4.0, 1 / 0.52], dtype=torch.float64))
    fk = FKSteering(every=1, potential="current", lam=1.0, ess_threshold=0.5)
    state = ParticleState.start(8, "cpu")
    reward = torch.tensor([0.0, 0.0, 0.0, 0.0, 50.0, 0.0, 0.0, 0.0])  # prompt 1 degenerate, prompt 0 uniform
    keys = torch.tensor([11, 12])
    rows, stats = fk.update(state, reward, keys, 4, step=0, steps=4)
    assert stats["resampled"].tolist() == [0.0] * 4 + [1.0] * 4  # ESS 4 >= 2 kept; ESS ~1.03 < 2 resampled
    assert rows[:4].tolist() == [0, 1, 2, 3] and rows[4:].tolist() == [4, 4, 4, 4]
    assert state.log_weight[:4].tolist() == [0.0] * 4 and state.log_weight[4:].tolist() == [0.0] * 4
    assert state.prev_reward[4:].tolist() == [50.0] * 4  # copied with the ancestor


def test_resampling_distributions():
    w = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    rows = 20000
    u = torch.rand(rows, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    counts = torch.bincount(multinomial(w.expand(rows, -1), u).flatten(), minlength=4).double()
    expected = w * rows * 4
    chi2 = (((counts - expected) ** 2) / expected).sum().item()
    assert chi2 < 16.27  # chi-square, 3 degrees of freedom, p = 0.001
    comb = systematic(w.expand(rows, -1), u[:, 0])  # each index between floor and ceil of K * w_i per row
    per_row = torch.stack([(comb == i).sum(-1) for i in range(4)], -1).double()
    assert ((per_row >= torch.floor(4 * w)) & (per_row <= torch.ceil(4 * w))).all()
    torch.testing.assert_close(per_row.mean(0), 4 * w, atol=0.02, rtol=0)
    equal = torch.full((rows, 4), 0.25, dtype=torch.float64)
    assert (systematic(equal, u[:, 0]) == torch.arange(4)).all()  # equal weights: each slot its own ancestor


def test_lam_zero_keeps_every_trajectory_its_own_ancestor_and_changes_nothing(lm, reward):
    none = make(lm, reward, NoGuidance()).generate(PROMPTS[:2])
    fk = make(lm, reward, NoGuidance(), FKSteering(every=1, potential="diff", lam=0.0)).generate(PROMPTS[:2])
    assert torch.equal(none.tokens, fk.tokens) and none.responses == fk.responses
    assert (fk.trace["ancestor"] == torch.arange(4).float()[None, :, None]).all()
    assert (fk.trace["ess"] == 4).all() and (fk.trace["resampled"] == 1).all()
    assert fk.counters["reward_forwards"] > none.counters["reward_forwards"]  # the potentials' reward passes


def test_copies_of_one_ancestor_diverge_and_a_prompt_ignores_its_batch(lm, reward):
    fk = FKSteering(every=3, potential="current", lam=200.0)  # one ancestor takes all after step 2
    denoiser = make(lm, reward, NoGuidance(), fk, steps=6, length=10)
    together = denoiser.generate(PROMPTS)
    first = together.trace["ancestor"][:, :, 2]
    assert (first == first[:, :1]).all()  # every slot copied one ancestor after step 2 ...
    final = together.trace["potential_reward"][:, :, 5]  # ... and the copies drew apart by the last step
    assert all(len(set(row.tolist())) > 1 for row in final), final
    for i, item in enumerate(PROMPTS[:2]):
        alone = denoiser.generate([item])
        assert torch.equal(alone.tokens[0], together.tokens[i])


def test_particles_raise_a_preferred_tokens_frequency_with_every_guidance(lm):
    reward = TokenCountReward(lm.tokenizer, "good")

    def frequency(guidance, particles):
        out = make(lm, reward, guidance, particles, steps=8, length=8, k=8, seed=3).generate(PROMPTS)
        return (out.tokens == reward.target_id).float().mean().item()

    fk = FKSteering(every=1, potential="diff", lam=5.0)
    assert frequency(NoGuidance(), fk) > frequency(NoGuidance(), None) + 0.05
    assert frequency(GradientGuidance(weight="entropy", inner_steps=1, lr=0.5), fk) > 0.1  # combines with gradients


def test_no_host_sync_with_particles(lm, reward, monkeypatch):
    counts = count_host_reads(monkeypatch)

    def run(steps):
        counts.clear()
        particles = FKSteering(every=1, potential="max", ess_threshold=0.5, resample="multinomial", fill="sample")
        make(lm, reward, NoGuidance(), particles, steps=steps, length=8, k=2).generate(PROMPTS[:2])
        return dict(counts)

    assert run(2) == run(8)


def test_bad_values_are_refused_naming_the_key():
    with pytest.raises(ValueError, match="particles.potential"):
        FKSteering(potential="sum")
    with pytest.raises(ValueError, match="particles.ess_threshold"):
        FKSteering(ess_threshold=2.0)
    with pytest.raises(ValueError, match="particles.lam"):
        FKSteering(lam=math.inf)
