"""schedule.filter_order: top_k_first (transformers, the default) vs top_p_first (the authors' order)."""

import pytest
import torch

from entrgi.engine import rng
from entrgi.engine.positions import StepPositions
from entrgi.engine.rng import DRAW_TOKENS, draw_id
from entrgi.engine.schedule import DenoisingSchedule, TokenSampler

TAU = 0.7


def nucleus(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Keep a token when the mass of the more likely tokens is at most p (the authors' rule; equal to
    entrgi's ``< p`` away from exact ties of the cumulative mass). [R, V] -> [R, V] bool."""
    sorted_p, idx = probs.sort(dim=-1, descending=True, stable=True)
    before = sorted_p.double().cumsum(-1) - sorted_p.double()
    return torch.zeros_like(probs, dtype=torch.bool).scatter(-1, idx, before <= p)


def top_k(z: torch.Tensor, k: int) -> torch.Tensor:
    return z.masked_fill(z < z.topk(k, -1).values[..., -1:], float("-inf"))


def authors_order(logits, p, k):
    """Top-p of the full softmax(logits / tau), then top-k of what is left, renormalized."""
    z = logits / TAU
    z = z.masked_fill(~nucleus(torch.softmax(z, -1), p), float("-inf"))
    return torch.log_softmax(top_k(z, k), -1)


def transformers_order(logits, p, k):
    """Top-k of the logits, then top-p of the renormalized top k."""
    z = top_k(logits / TAU, k)
    return torch.log_softmax(z.masked_fill(~nucleus(torch.softmax(z, -1), p), float("-inf")), -1)


def same(a: torch.Tensor, b: torch.Tensor) -> None:
    assert torch.equal(torch.isfinite(a), torch.isfinite(b))
    torch.testing.assert_close(a.exp(), b.exp())


def test_each_order_equals_its_direct_definition():
    # a row where the orders differ: top-2 renormalized is [0.67, 0.33], whose 0.6-nucleus is one token;
    # the full distribution's 0.6-nucleus is two tokens, cut to k = 2: two tokens
    row = torch.log(torch.tensor([[0.5, 0.25, 0.15, 0.1]])) * TAU
    p_first = TokenSampler(TAU, top_p=0.6, top_k=2, filter_order="top_p_first").log_probs(row)
    k_first = TokenSampler(TAU, top_p=0.6, top_k=2, filter_order="top_k_first").log_probs(row)
    assert torch.isfinite(p_first).tolist() == [[True, True, False, False]]
    assert torch.isfinite(k_first).tolist() == [[True, False, False, False]]
    same(p_first, authors_order(row, 0.6, 2))
    same(k_first, transformers_order(row, 0.6, 2))
    # random rows, both orders against their definitions; they differ on some rows
    logits = torch.randn(64, 50, generator=torch.Generator().manual_seed(0)) * 2
    for k, p in [(5, 0.7), (20, 0.9), (3, 0.95)]:
        got_p = TokenSampler(TAU, top_p=p, top_k=k, filter_order="top_p_first").log_probs(logits)
        got_k = TokenSampler(TAU, top_p=p, top_k=k).log_probs(logits)
        same(got_p, authors_order(logits, p, k))
        same(got_k, transformers_order(logits, p, k))
        assert not torch.equal(torch.isfinite(got_p), torch.isfinite(got_k))


@pytest.mark.parametrize(("top_p", "top_k"), [(1.0, 5), (0.9, None), (0.9, 200)])
def test_orders_are_bit_identical_with_one_filter(top_p, top_k):
    logits = torch.randn(8, 100, generator=torch.Generator().manual_seed(1))
    a = TokenSampler(TAU, top_p=top_p, top_k=top_k, filter_order="top_k_first").log_probs(logits)
    b = TokenSampler(TAU, top_p=top_p, top_k=top_k, filter_order="top_p_first").log_probs(logits)
    assert torch.equal(a, b)


def test_bad_order_names_the_key():
    with pytest.raises(ValueError, match="schedule.filter_order"):
        DenoisingSchedule(steps=2, max_new_tokens=4, filter_order="top_p")


def test_one_step_samples_change_only_through_the_filter():
    """DenoisingSchedule.step draws each order's tokens from that order's filtered distribution with the
    same uniforms; the orders give different tokens on a random [N, G, V] phi."""
    n, width, vocab, k, p = 4, 6, 40, 4, 0.8
    phi = torch.randn(n, width, vocab, generator=torch.Generator().manual_seed(2)) * 1.5
    tokens = torch.full((n, width), vocab)  # every position masked (the mask id is outside phi)
    keys = rng.trajectory_keys(0, torch.arange(n), 1)
    at = StepPositions.every(0, keys, torch.ones(n, width, dtype=torch.bool), 2**20)
    u = at.uniform(draw_id(0, DRAW_TOKENS))
    sampled = {}
    for order, direct in [("top_k_first", transformers_order), ("top_p_first", authors_order)]:
        sched = DenoisingSchedule(
            steps=4, max_new_tokens=width, temperature=TAU, top_p=p, top_k=k, filter_order=order, alg="maskgit_plus"
        )
        out = sched.step(at, sched.timesteps(), tokens, phi.clone(), torch.tensor([0]))
        sampled[order] = out.sampled
        assert torch.equal(out.sampled, TokenSampler.draw(direct(phi, p, k), u))
    assert not torch.equal(sampled["top_k_first"], sampled["top_p_first"])
