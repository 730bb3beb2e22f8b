"""schedule.entropy_filter: alg=entropy on the unfiltered (none) or the top-k/top-p filtered distribution
(filtered; the authors' best-of-N script), or filtered for an unguided run only (authors)."""

import pytest
import torch

from entrgi.engine import rng
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, NoGuidance
from entrgi.engine.models.vocab import BridgeCoverage, VocabBridge
from entrgi.engine.positions import StepPositions
from entrgi.engine.schedule import DenoisingSchedule

TAU, MASK = 0.7, 99


def authors_filtered_negative_entropy(logits, top_p, top_k=None):
    """sum p log(p + 1e-10) of the authors' filtered distribution: top-p of softmax(logits / tau) (keep a
    token while the mass before it is at most top_p), then top-k, the rest at the dtype's minimum."""
    z = logits / TAU
    low = torch.finfo(z.dtype).min
    sorted_p, idx = torch.softmax(z, -1).sort(dim=-1, descending=True, stable=True)
    keep = torch.zeros_like(z, dtype=torch.bool).scatter(-1, idx, sorted_p.cumsum(-1) - sorted_p <= top_p)
    z = z.masked_fill(~keep, low)
    if top_k is not None:
        z = z.masked_fill(z < z.topk(top_k, -1).values[..., -1:], low)
    p = torch.softmax(z, -1)
    return (p * torch.log(p + 1e-10)).sum(-1)


def schedule(entropy_filter, top_p=0.5, top_k=None):
    return DenoisingSchedule(
        steps=2,
        max_new_tokens=3,
        temperature=TAU,
        top_p=top_p,
        top_k=top_k,
        filter_order="top_p_first",
        entropy_filter=entropy_filter,
    )


def constructed_logits():
    """Three positions: 0 one dominant token over a long flat tail, 1 two tokens, 2 flat. Unfiltered,
    position 1 is the most confident; within the 0.5-nucleus position 0 (a single token) is."""
    logits = torch.zeros(1, 3, 50)
    logits[0, 0, 1] = 4.0
    logits[0, 1, 1] = logits[0, 1, 2] = 2.0
    logits[0, 1, 3:] = -30.0
    return logits


def committed(sched, logits, guided=None):
    keys = rng.trajectory_keys(0, torch.tensor([0]), 1)
    at = StepPositions.every(0, keys, torch.ones(1, 3, dtype=torch.bool), 2**20)
    pre = sched.pre_guidance(logits.view(-1, logits.shape[-1]), guided=guided).view(1, 3)
    return sched.step(at, sched.timesteps(), torch.full((1, 3), MASK), logits, torch.tensor([0]), pre).committed


def test_filtered_ranks_by_the_authors_filtered_entropy():
    logits = constructed_logits()
    pre = schedule("filtered").pre_guidance(logits[0])
    direct = authors_filtered_negative_entropy(logits[0], 0.5)
    torch.testing.assert_close(pre, direct)
    assert pre.argsort().tolist() == direct.argsort().tolist() == [2, 1, 0]
    assert committed(schedule("filtered"), logits).tolist() == [[True, False, False]]
    assert committed(schedule("none"), logits).tolist() == [[False, True, False]]  # the unfiltered ranking
    # random rows with both filters (the authors' order)
    rows = torch.randn(32, 60, generator=torch.Generator().manual_seed(0)) * 2
    pre = schedule("filtered", top_p=0.9, top_k=8).pre_guidance(rows)
    direct = authors_filtered_negative_entropy(rows, 0.9, 8)
    torch.testing.assert_close(pre, direct)
    assert torch.equal(pre.argsort(), direct.argsort())


def test_authors_is_filtered_for_bon_and_unfiltered_when_guided():
    logits = constructed_logits()[0]
    sched = schedule("authors")
    assert torch.equal(sched.pre_guidance(logits, guided=False), schedule("filtered").pre_guidance(logits))
    assert torch.equal(sched.pre_guidance(logits, guided=True), schedule("none").pre_guidance(logits))
    with pytest.raises(ValueError, match="schedule.entropy_filter='authors'"):
        sched.pre_guidance(logits)
    # the denoiser tells the schedule whether its guidance uses the reward
    bridge = VocabBridge(torch.zeros(50, 2), torch.zeros(50, dtype=torch.long), BridgeCoverage(50, 0, 0), None)
    at = StepPositions.every(0, rng.trajectory_keys(0, torch.tensor([0]), 1), torch.ones(1, 3, dtype=torch.bool), 2**20)
    for guidance, expected in [(NoGuidance(), "filtered"), (GradientGuidance(), "none")]:
        denoiser = GuidedDenoiser(None, None, guidance, sched, samples_per_prompt=1, bridge=bridge)
        _, pre = denoiser._logit_stats(logits[None].clone(), at)
        assert torch.equal(pre[0], schedule(expected).pre_guidance(logits)), type(guidance).__name__


def test_bad_entropy_filter_names_the_key():
    with pytest.raises(ValueError, match="schedule.entropy_filter"):
        schedule("bon")
