"""Post-training engine on the testbed dLLM: the one-step and ELBO log-likelihood estimators against
direct implementations of their formulas (and, for the ELBO, the exact expectation over its draws),
their independence from the batch, and the objectives' weights and losses."""

import pytest
import torch
from completions import LONG, RESPONSES, SHORT, TARGETS, K, completions

from entrgi.engine import rng
from entrgi.engine.models.adapters import add_lora
from entrgi.engine.models.attention import bidirectional_inputs
from entrgi.engine.posttrain import (
    RGRL,
    BestOfKSFT,
    ElboEstimator,
    OneStepEstimator,
    RewardWeighted,
)


@pytest.fixture(scope="module")
def lm():
    from entrgi.testbed import load_dllm

    return load_dllm(device="cpu")


@torch.no_grad()
def direct_logps(lm, noisy, attention, c):
    """log p(response token | noisy canvas) from the raw model: [N, L]."""
    mask4, positions = bidirectional_inputs(attention)
    logits = lm.model(noisy, attention_mask=mask4, position_ids=positions).logits[:, c.prompt_len :].float()
    return logits.log_softmax(-1).gather(-1, c.response[..., None]).squeeze(-1)


def direct_prompt(c, mask_id, p, draw=0):
    """The prompt with attended token j (counted from the row's first attended token) masked where
    uniform_at(key, draw_id(draw, DRAW_LOGLIK, 2), j) < p, row by row."""
    prompt = c.tokens[:, : c.prompt_len].clone()
    for i in range(prompt.shape[0]):
        n = int(c.prompt_attention[i].sum())
        u = rng.uniform_at(c.keys[i : i + 1], rng.draw_id(draw, rng.DRAW_LOGLIK, 2), torch.arange(n)[None])[0]
        row = prompt[i, c.prompt_len - n :]
        row[u < p] = mask_id
    return prompt


def attention_of(c, attend_past_stop):
    response = torch.ones_like(c.mask) if attend_past_stop else c.mask
    return torch.cat([c.prompt_attention, response], 1)


@pytest.fixture(scope="module")
def batch(lm):
    c = completions(lm, [SHORT, LONG], RESPONSES, K)
    assert (~c.prompt_attention).any(1).tolist() == [True, True, False, False]  # the short prompt is padded
    assert c.mask.all(1).tolist() == [True, False, True, True]
    return c


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_one_step_estimator_matches_the_formula(lm, batch, p):
    c = batch
    est = OneStepEstimator(p_mask_prompt=p)
    prompt = direct_prompt(c, lm.mask_token_id, p)
    masked_prompt = prompt == lm.mask_token_id
    if p == 0.0:
        assert not masked_prompt.any()
    else:  # some, not all, attended prompt tokens masked; never the padding
        assert 0 < masked_prompt.sum() < c.prompt_attention.sum()
        assert not (masked_prompt & ~c.prompt_attention).any()
    noisy = torch.cat([prompt, torch.full_like(c.response, lm.mask_token_id)], 1)
    expected = direct_logps(lm, noisy, attention_of(c, False), c) * c.mask
    with torch.no_grad():
        got = est.token_logps(lm, c)
        seq = est.sequence_logps(lm, c)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert (got[1, 3:] == 0).all()  # past the first stop token
    lengths = torch.tensor([6.0, 3.0, 6.0, 6.0])
    torch.testing.assert_close(seq, expected.sum(-1) / lengths, atol=1e-5, rtol=1e-5)


def test_one_step_prompt_masking_changes_the_estimate(lm, batch):
    with torch.no_grad():
        clean = OneStepEstimator(p_mask_prompt=0.0).token_logps(lm, batch)
        noisy = OneStepEstimator(p_mask_prompt=0.5).token_logps(lm, batch)
    assert (clean - noisy).abs().max() > 1e-3


def test_attention_past_the_first_stop_token(lm, batch):
    c = batch
    noisy = torch.cat([c.tokens[:, : c.prompt_len], torch.full_like(c.response, lm.mask_token_id)], 1)
    with torch.no_grad():
        cut = OneStepEstimator(p_mask_prompt=0.0).token_logps(lm, c)
        full = OneStepEstimator(p_mask_prompt=0.0, attend_past_stop=True).token_logps(lm, c)
    torch.testing.assert_close(cut, direct_logps(lm, noisy, attention_of(c, False), c) * c.mask, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(full, direct_logps(lm, noisy, attention_of(c, True), c) * c.mask, atol=1e-5, rtol=1e-5)
    assert (cut[1] - full[1]).abs().max() > 1e-4  # the row with a stop token sees 3 fewer positions
    # rows without a stop token attend to the same positions either way
    torch.testing.assert_close(cut[[0, 2, 3]], full[[0, 2, 3]], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attend_past_stop, p", [(False, 0.0), (True, 0.5)])
def test_elbo_draws_match_the_formula(lm, batch, attend_past_stop, p):
    c = batch
    est = ElboEstimator(draws=2, eps=0.05, p_mask_prompt=p, attend_past_stop=attend_past_stop)
    total = torch.zeros(c.mask.shape)
    for draw in range(2):
        t = est.ratios(c, draw)
        assert ((t >= 0.05) & (t < 1)).all()
        masked = est.masked(c, t, draw)
        prompt = direct_prompt(c, lm.mask_token_id, p, draw)  # a fresh prompt mask per draw
        noisy = torch.cat([prompt, c.response.masked_fill(masked, lm.mask_token_id)], 1)
        lp = direct_logps(lm, noisy, attention_of(c, attend_past_stop), c)
        total += torch.where(masked & c.mask, lp / t[:, None], 0.0)
        if draw == 0:
            one = ElboEstimator(draws=1, eps=0.05, p_mask_prompt=p, attend_past_stop=attend_past_stop)
            with torch.no_grad():
                torch.testing.assert_close(one.token_logps(lm, c), total, atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        got = est.token_logps(lm, c)
        seq = est.sequence_logps(lm, c)
    assert got.ne(0).any() and got.eq(0).any()  # some masked, some not
    torch.testing.assert_close(got, total / 2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(seq, total.sum(-1) / 2 / c.lengths, atol=1e-5, rtol=1e-5)


def test_elbo_mean_over_draws_is_its_exact_expectation(lm):
    """A 2-token response: E over t ~ U(eps, 1) and the masks of sum_{i in S} log p(x_i | S masked) / t
    is sum_S sum_{i in S} log p(x_i | S masked) * int_eps^1 t^(|S|-1) (1-t)^(2-|S|) dt / (1 - eps)."""
    eps, n = 0.05, 4000
    c = completions(lm, [SHORT], [[233, 44]] * n, n)  # n trajectories of one prompt
    assert c.keys.unique().numel() == n
    est = ElboEstimator(draws=1, eps=eps)
    # the mask sets' frequencies: P(S) = int_eps^1 t^|S| (1-t)^(2-|S|) dt / (1 - eps)
    masked = est.masked(c, est.ratios(c, 0), 0)
    p_one = ((1 - eps) ** 2 / 2 - (1 - eps) ** 3 / 3) / (1 - eps)  # exactly one given position masked
    p_both = (1 - eps**3) / 3 / (1 - eps)
    for observed, p in [
        (masked[:, 0] & ~masked[:, 1], p_one),
        (~masked[:, 0] & masked[:, 1], p_one),
        (masked.all(1), p_both),
    ]:
        assert abs(observed.float().mean().item() - p) < 4 * (p * (1 - p) / n) ** 0.5
    with torch.no_grad():
        values = est.token_logps(lm, c).sum(-1).double()  # [n] one-draw estimates of the log-likelihood
    # exact: log p(x_i | S masked) for S = {0}, {1}, {0, 1}
    sets = torch.tensor([[True, False], [False, True], [True, True]])
    three = c.rows(torch.arange(3))
    noisy = torch.cat([three.tokens[:, : three.prompt_len], three.response.masked_fill(sets, lm.mask_token_id)], 1)
    lp = direct_logps(lm, noisy, attention_of(three, False), three).double()
    w_one, w_both = (1 - eps) / 2, (1 + eps) / 2  # int t^0 (1-t)^1 and int t^1 (1-t)^0, over (1 - eps)
    exact = (lp[0, 0] + lp[1, 1]) * w_one + (lp[2, 0] + lp[2, 1]) * w_both
    se = values.std() / n**0.5
    assert abs(values.mean() - exact) < 4 * se, (values.mean().item(), exact.item(), se.item())
    assert se < 0.05 * exact.abs()  # the check has power: the band is narrow against the value


def test_estimates_do_not_depend_on_the_batch(lm):
    """The short prompt's completions give the same contributions alone (no padding) and next to a
    longer prompt (left-padded), for both estimators with prompt masking."""
    alone = completions(lm, [SHORT], RESPONSES[:2], K)
    both = completions(lm, [SHORT, LONG], RESPONSES, K)
    assert both.prompt_len > alone.prompt_len
    torch.testing.assert_close(both.keys[:2], alone.keys)
    for est in [OneStepEstimator(p_mask_prompt=0.5), ElboEstimator(draws=2, p_mask_prompt=0.5)]:
        with torch.no_grad():
            torch.testing.assert_close(est.token_logps(lm, both)[:2], est.token_logps(lm, alone), atol=1e-5, rtol=1e-5)


# --- objectives -------------------------------------------------------------------------------------


def test_rgrl_loss_and_reductions():
    g = torch.Generator().manual_seed(0)
    b, k = 3, 4
    rewards, seq = torch.randn(b, k, generator=g), torch.randn(b * k, generator=g)
    w = RGRL().weights(rewards)
    assert torch.equal(w, torch.full((b, k), 1 / k))
    expected = -sum(sum(seq[i * k + j] / k for j in range(k)) for i in range(b)) / b
    torch.testing.assert_close(RGRL().loss(seq, w.reshape(-1), prompts=b), expected)
    torch.testing.assert_close(RGRL(reduction="sum").loss(seq, w.reshape(-1), prompts=b), expected * b)
    with pytest.raises(ValueError, match="objective.loss.reduction"):
        RGRL(reduction="max")


def test_reward_weighted_weights():
    g = torch.Generator().manual_seed(1)
    rewards = torch.randn(3, 4, generator=g)
    for eps in (1e-4, 0.5):
        w = RewardWeighted(eps=eps).weights(rewards)
        for b in range(3):
            r = rewards[b].tolist()
            mean = sum(r) / 4
            std = (sum((x - mean) ** 2 for x in r) / 3) ** 0.5  # Bessel's correction
            torch.testing.assert_close(w[b], torch.tensor([(x - mean) / (std + eps) / 4 for x in r]))
    with pytest.raises(ValueError, match="samples_per_prompt"):
        RewardWeighted().weights(torch.randn(3, 1))


def test_best_of_k_weights_and_selection():
    rewards = torch.tensor([[1.0, 3.0, 3.0, 0.0], [5.0, 1.0, 2.0, 5.0], [-1.0, -2.0, -3.0, -0.5]])
    obj = BestOfKSFT()
    w = obj.weights(rewards)
    assert torch.equal(w, torch.eye(4)[[1, 0, 3]])  # the first maximum on ties
    keep = obj.trains_on(w)
    assert keep.nonzero().tolist() == [[0, 1], [1, 0], [2, 3]]
    seq = torch.arange(12.0)
    torch.testing.assert_close(
        obj.loss(seq[keep.reshape(-1)], w[keep], prompts=3), torch.tensor(-(1.0 + 4.0 + 11.0) / 3)
    )


def test_reward_weighted_with_equal_rewards_gives_no_gradient():
    from entrgi.testbed import load_dllm

    model = load_dllm(device="cpu")
    model.model = add_lora(model.model, r=4, alpha=8, dropout=0.0, target_modules=TARGETS)
    c = completions(model, [SHORT, LONG], RESPONSES, K)
    lora = [p for n, p in model.model.named_parameters() if "lora_" in n]
    assert lora and all(p.requires_grad for p in lora)
    obj = RewardWeighted()
    est = OneStepEstimator(p_mask_prompt=0.3)

    def grads(rewards):
        model.model.zero_grad(set_to_none=True)
        w = obj.weights(rewards)
        obj.loss(est.sequence_logps(model, c), w.reshape(-1), prompts=2).backward()
        return [torch.zeros_like(p) if p.grad is None else p.grad for p in lora]

    equal = torch.tensor([[1.0, 1.0], [-2.0, -2.0]])
    assert not obj.trains_on(obj.weights(equal)).any()
    assert all(torch.equal(g, torch.zeros_like(g)) for g in grads(equal))
    different = grads(torch.tensor([[1.0, 0.0], [-2.0, 3.0]]))  # the same loss does train otherwise
    assert all(g.isfinite().all() for g in different)
    assert any(g.abs().max() > 0 for g in different)
