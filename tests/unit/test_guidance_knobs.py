"""guidance.every / until / min_entropy: which steps and trajectories are guided, and what that costs."""

import pytest
import torch
from fakes import linear_step

from entrgi.engine import rng
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, NoGuidance
from entrgi.engine.guidance.stats import masked_stats, normalized_entropy
from entrgi.engine.positions import StepPositions
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.schedule.sampling import TokenSampler
from entrgi.engine.types import PromptItem

PROMPTS = [PromptItem("a", "the cat"), PromptItem("b", "a big dog eat food today"), PromptItem("c", "rain")]


def generate(lm, reward, guidance, steps=6):
    schedule = DenoisingSchedule(steps=steps, max_new_tokens=6, temperature=0.7, top_p=0.95)
    return GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=2, seed=5).generate(PROMPTS)


@pytest.mark.parametrize(
    "kwargs, guided",
    [
        ({"every": 2}, [0, 2, 4]),
        ({"every": 4}, [0, 4]),
        ({"until": 0.5}, [0, 1, 2]),
        ({"until": 0.4}, [0, 1, 2]),  # step < 0.4 * 6 = 2.4
        ({"every": 2, "until": 0.5}, [0, 2]),
    ],
)
def test_every_and_until_choose_the_guided_steps(lm, reward, kwargs, guided):
    out = generate(lm, reward, GradientGuidance(inner_steps=1, **kwargs))
    steps = out.trace["guided"].shape[-1]
    on = [t for t in range(steps) if (out.trace["guided"][..., t] == 1).all()]
    off = [t for t in range(steps) if (out.trace["guided"][..., t] == 0).all()]
    assert on == guided and sorted(on + off) == list(range(steps))
    assert out.counters["guided_steps"] == len(guided)
    assert out.counters["reward_backwards"] == len(guided)  # M = 1 backward per guided step
    assert torch.isnan(out.trace["w_mean"][..., off]).all() and torch.isfinite(out.trace["w_mean"][..., on]).all()


def test_min_entropy_above_every_step_is_unguided_sampling(lm, reward):
    """Normalized entropy never reaches 1 here: no trajectory is guided, tokens equal BoN's."""
    gated = generate(lm, reward, GradientGuidance(min_entropy=1.0))
    bon = generate(lm, reward, NoGuidance())
    assert torch.equal(gated.tokens, bon.tokens)
    assert (gated.trace["guided"] == 0).all() and gated.counters["reward_backwards"] == 0


def test_min_entropy_leaves_gated_trajectories_exactly_unchanged():
    """The masked update (the GPU path): trajectories under the threshold keep phi == logits."""
    logits, tokens, masked, obj = linear_step(n=4, length=6)
    logits = logits.float()
    logits[:2] *= 8.0  # peaked rows: low entropy
    at = StepPositions.every(0, rng.trajectory_keys(0, torch.arange(4), 1), masked)
    h = normalized_entropy(logits)
    mean_h = masked_stats(h, at.active)[0]
    threshold = float((mean_h[:2].max() + mean_h[2:].min()) / 2)
    assert mean_h[:2].max() < threshold < mean_h[2:].min()
    guide = GradientGuidance(weight="entropy", inner_steps=3, lr=0.5, min_entropy=threshold)
    phi, stats = guide.optimize(logits.clone(), tokens, obj, TokenSampler(temperature=1.0), at, entropy=h)
    assert torch.equal(phi[:2], logits[:2])
    assert not torch.equal(phi[2:][masked[2:]], logits[2:][masked[2:]])
    assert stats["guided"].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert torch.isnan(stats["w_mean"][:2]).all() and torch.isfinite(stats["w_mean"][2:]).all()
