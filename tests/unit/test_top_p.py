"""Exact top-p without a full-vocabulary sort equals the sort definition."""

import pytest
import torch

from entrgi.engine.schedule import TokenSampler
from entrgi.engine.schedule.top_p import top_p_keep

METHODS = [("candidates", 64), ("candidates", 3), ("bucket", 0), ("threshold", 0)]  # 3 candidates: most rows fall back


def sort_definition(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Stable descending sort (ties: lower id first); keep where the float64 mass before is < top_p."""
    order = torch.argsort(probs, dim=-1, descending=True, stable=True)
    sorted_p = probs.gather(-1, order).double()
    before = sorted_p.cumsum(-1) - sorted_p
    return torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, before < top_p)


def check(probs, top_p):
    expected = sort_definition(probs, top_p)
    for method, candidates in METHODS:
        got = top_p_keep(probs, top_p, candidates=candidates, method=method)
        assert torch.equal(got, expected), (method, candidates, top_p, (got != expected).nonzero()[:5])
    assert expected[torch.arange(len(probs)), probs.argmax(-1)].all()  # the most likely token stays


@pytest.mark.parametrize("top_p", [0.1, 0.5, 0.9, 0.95, 0.999])
@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0, 10.0])
def test_random_rows(top_p, scale):
    g = torch.Generator().manual_seed(int(scale * 10) + int(top_p * 1000))
    probs = torch.softmax(torch.randn(64, 500, generator=g) * scale, -1)
    check(probs, top_p)


def test_ties_at_the_boundary_keep_the_lowest_ids_first():
    # four tokens of 0.25: mass before them is 0, 0.25, 0.5, 0.75 (exact in binary)
    probs = torch.tensor([[0.25, 0.25, 0.25, 0.25, 0.0, 0.0]]).roll(1, -1)
    for top_p, kept in [(0.2, 1), (0.25, 1), (0.26, 2), (0.5, 2), (0.6, 3), (0.75, 3), (0.8, 4)]:
        keep = sort_definition(probs, top_p)
        assert keep.sum() == kept and keep[0, 1 : 1 + kept].all(), top_p
        check(probs, top_p)
    # a tie group straddling the boundary below a larger token
    probs = torch.tensor([[0.125, 0.5, 0.125, 0.125, 0.125]])
    for top_p in [0.5, 0.6, 0.625, 0.7, 0.75, 0.8, 0.9]:
        check(probs, top_p)


def test_adversarial_rows():
    v = 300
    one_hot = torch.zeros(1, v)
    one_hot[0, 17] = 1.0
    flat = torch.full((1, v), 1.0 / v)
    two_level = torch.cat([torch.full((1, 100), 0.008), torch.full((1, 200), 0.001)], -1)  # 0.8 + 0.2
    tiny_tail = torch.softmax(torch.cat([torch.tensor([[30.0, 29.0]]), torch.zeros(1, v - 2)], -1), -1)
    with_zeros = torch.softmax(torch.where(torch.arange(v) % 3 == 0, 0.0, float("-inf"))[None], -1)
    rows = torch.cat([one_hot, flat, two_level, tiny_tail, with_zeros])
    for top_p in [0.01, 0.5, 0.8, 0.9, 0.95, 0.99999]:
        check(rows, top_p)
    assert top_p_keep(flat, 1.0).all() and top_p_keep(one_hot, 1.0).all()  # top_p = 1: everything


def test_sampler_top_p_with_top_k_equals_the_sort_definition():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(40, 200, generator=g) * 2
    logits[:5, :10] = 3.0  # ties at the top-k boundary too
    for top_k, top_p in [(None, 0.9), (20, 0.9), (5, 0.5), (50, 0.99), (8, 1.0)]:
        sampler = TokenSampler(temperature=0.7, top_p=top_p, top_k=top_k)
        got = torch.isfinite(sampler.log_probs(logits))
        z = logits / 0.7
        if top_k is not None:
            z = z.masked_fill(z < torch.topk(z, top_k, -1).values[..., -1:], float("-inf"))
        probs = torch.softmax(z, -1)
        assert torch.equal(got, sort_definition(probs, top_p) & (probs > 0) if top_p < 1 else probs > 0)


def test_rows_that_need_a_long_nucleus_fall_back_exactly():
    """Flat rows with a nucleus far larger than the candidates, next to peaked ones."""
    g = torch.Generator().manual_seed(5)
    probs = torch.softmax(
        torch.cat([torch.randn(8, 5000, generator=g) * 0.1, torch.randn(8, 5000, generator=g) * 8]), -1
    )
    check(probs, 0.95)
