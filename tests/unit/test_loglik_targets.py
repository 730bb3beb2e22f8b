"""The AR log-likelihood reward under guidance, against a direct implementation of the authors' formula
(``main_expts/entrgi_ar.py``): values and gradients w.r.t. phi for w = 0, 1 and entropy, both layouts."""

import pytest
import tiny_models
import torch
from test_guidance import phi_gradient

from entrgi.engine import rng
from entrgi.engine.guidance import GradientGuidance, RelaxedReward, normalized_entropy
from entrgi.engine.models import CausalLMLogLikReward
from entrgi.engine.models.reward_base import SoftTargets
from entrgi.engine.positions import StepPositions
from entrgi.engine.schedule import TokenSampler

MSG = [{"role": "user", "content": "the cat eat food"}]
V, L, TAU, STOP = 40, 5, 0.7, 0


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory):
    return tiny_models.save_causal_lm(tmp_path_factory.mktemp("loglik_targets") / "lm")


def _setup(reward, seed=0):
    """A dLLM vocabulary of V ids mapped onto the reward's (with collisions), two trajectories of one
    prompt: row 0 has no stop token, row 1 commits the stop token at position 3."""
    g = torch.Generator().manual_seed(seed)
    ids_map = torch.randint(0, len(reward.tokenizer), (V,), generator=g)
    bridge = reward.embedding_matrix[ids_map].detach()
    ctx = reward.context([MSG]).repeat(2)
    obj = RelaxedReward(reward, bridge, ctx, torch.tensor([STOP]), bridge_ids=ids_map)
    phi = torch.randn(2, L, V, generator=g) * 2
    phi[..., STOP] = -30.0  # argmax is never the stop token
    tokens = torch.randint(1, V, (2, L), generator=g)
    masked = torch.tensor([[1, 0, 1, 1, 0], [1, 1, 0, 0, 1]], dtype=torch.bool)
    tokens[1, 3] = STOP
    return obj, ids_map, phi, tokens, masked


def _authors(reward, obj, ids_map, phi, tokens, masked, w, hard):
    """The authors' AR reward_fn, written from their formula: [prefix | all L slots | suffix], an
    attention mask, no position ids; soft_lp = sum_d sg(q_d) log P(map(d)); soft + w sg(hard - soft)."""
    phi = phi.clone().requires_grad_(True)
    probs = torch.softmax(phi / TAU, -1)  # [2, L, V]
    soft_e = probs @ obj.bridge
    e_hat = soft_e + (w[..., None] * (obj.bridge[hard] - soft_e)).detach()
    inputs = torch.where(masked[..., None], e_hat, obj.bridge[tokens])
    current = torch.where(masked, phi.argmax(-1), tokens)
    attended = torch.cumsum((current == STOP).long(), -1) == 0  # [2, L]
    embed = reward.model.get_input_embeddings()
    prefix, suffix = obj.context.prefix_ids, obj.context.suffix_ids.expand(2, -1)
    full = torch.cat([embed(prefix), inputs, embed(suffix)], 1)
    att = torch.cat([obj.context.prefix_mask, attended, torch.ones_like(suffix, dtype=torch.bool)], 1).long()
    logp = reward.model(inputs_embeds=full[:, :-1], attention_mask=att[:, :-1]).logits.float().log_softmax(-1)
    p = prefix.shape[1]
    resp = logp[:, p - 1 : p - 1 + L]  # [2, L, V_R]
    lp = resp.gather(-1, ids_map[current][..., None]).squeeze(-1)
    soft = (probs.detach() * resp[..., ids_map]).sum(-1)
    hard_lp = resp.gather(-1, ids_map[hard][..., None]).squeeze(-1)
    lp = torch.where(masked, soft + w * (hard_lp - soft).detach(), lp)
    suf = logp[:, p - 1 + L :].gather(-1, suffix[..., None]).squeeze(-1)
    value = ((lp * attended).sum(-1) + suf.sum(-1)) / (attended.sum(-1) + suffix.shape[1])
    (grad,) = torch.autograd.grad(-value.sum(), phi)
    return value.detach(), grad


@pytest.mark.parametrize("layout", ["authors", "contiguous"])
@pytest.mark.parametrize("weight", ["zero", "one", "entropy"])
def test_values_and_phi_gradients_match_the_authors_formula(lm_path, layout, weight):
    reward = CausalLMLogLikReward.from_pretrained(str(lm_path), dtype="float32", device="cpu", position_ids=layout)
    obj, ids_map, phi, tokens, masked = _setup(reward)
    sampler = TokenSampler(temperature=TAU, top_p=0.9)
    guide = GradientGuidance(weight=weight)
    keys = rng.trajectory_keys(0, torch.arange(2), 1)
    at = StepPositions.every(0, keys, masked)
    embeds, current, w, targets = guide.relaxed_input(phi, tokens, obj, sampler, at, draw=3)
    assert isinstance(targets, SoftTargets) and torch.equal(targets.weight, w)
    e = embeds.clone().requires_grad_(True)
    value = obj.score(e, current, targets)
    (g_e,) = torch.autograd.grad(-value.sum(), e)
    grad = phi_gradient(guide, phi.clone(), g_e, obj, sampler, at)

    hard = sampler.draw(sampler.log_probs(phi), rng.uniform(keys, 3, L))
    w_ref = {"zero": torch.zeros(2, L), "one": torch.ones(2, L), "entropy": normalized_entropy(phi)}[weight]
    ref_value, ref_grad = _authors(reward, obj, ids_map, phi, tokens, masked, w_ref, hard)
    rows = [0, 1] if layout == "authors" else [0]  # row 1 stops early: only the authors' layout has the gap
    torch.testing.assert_close(value.detach()[rows], ref_value[rows], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad[rows], ref_grad[rows], atol=1e-5, rtol=1e-4)
    assert grad[masked].abs().sum() > 0 and grad[~masked].abs().max() == 0
    if layout == "contiguous":  # the suffix right after the last attended token: a different value
        assert (value[1] - ref_value[1]).abs() > 1e-3


def test_one_hot_targets_score_as_the_text(lm_path):
    """q one-hot on a token and that token drawn: the relaxed target is the token's own log-probability
    for any w, so the score equals the decoded text's."""
    reward = CausalLMLogLikReward.from_pretrained(str(lm_path), dtype="float32", device="cpu")
    words = "good cat and happy dog".split()
    ids = torch.tensor([reward.tokenizer.convert_tokens_to_ids(words)])
    mask = torch.ones_like(ids, dtype=torch.bool)
    positions = torch.arange(len(words))[None]
    probs = torch.nn.functional.one_hot(ids, reward.embedding_matrix.shape[0]).float()
    for w in (0.0, 0.4, 1.0):
        t = SoftTargets(ids, positions, mask, probs, ids, torch.full(ids.shape, w))
        score = reward.score_embeds(reward.context([MSG]), reward.embedding_matrix[ids], mask, t)
        torch.testing.assert_close(score, reward.score_text([MSG], [" ".join(words)]), atol=1e-5, rtol=1e-5)


def test_a_reward_that_scores_targets_needs_the_bridge_ids(lm_path):
    reward = CausalLMLogLikReward.from_pretrained(str(lm_path), dtype="float32", device="cpu")
    with pytest.raises(ValueError, match="bridge's token ids"):
        RelaxedReward(reward, reward.embedding_matrix, reward.context([MSG]), torch.tensor([STOP]))
