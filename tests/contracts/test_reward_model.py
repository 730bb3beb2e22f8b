"""The RewardModel contract (entrgi.engine.models.reward_base), run by every reward in the project.

A new reward kind adds one entry to ``REWARDS``; every test below then runs on it.
"""

from __future__ import annotations

import pytest
import tiny_models
import torch
from fakes import TokenCountReward

from entrgi.engine.models import CausalLMLogLikReward, RewardContext, RewardModel, SequenceClassifierReward
from entrgi.engine.models.usage import ModelUsage
from entrgi.testbed import load_reward

MESSAGES = [  # different lengths: batched prefixes are left-padded
    [{"role": "user", "content": "the cat eat food"}],
    [{"role": "user", "content": "a dog"}],
    [{"role": "user", "content": "red bird song and music today"}],
]
RESPONSES = ["the happy cat . love", "a slow bird", "dog"]  # single tokens of every reward's vocabulary


def _loglik(path, cache_prefix=True):
    return CausalLMLogLikReward.from_pretrained(str(path), dtype="float32", device="cpu", cache_prefix=cache_prefix)


REWARDS = {
    "sequence_classifier": lambda d: SequenceClassifierReward.from_pretrained(
        str(d["reward"]), dtype="float32", device="cpu"
    ),
    "sequence_classifier_uncached": lambda d: SequenceClassifierReward.from_pretrained(
        str(d["reward"]), dtype="float32", device="cpu", cache_prefix=False
    ),
    "causal_lm_loglik": lambda d: _loglik(d["causal_lm"]),
    "causal_lm_loglik_uncached": lambda d: _loglik(d["causal_lm"], cache_prefix=False),
    "testbed": lambda d: load_reward(device="cpu"),
    "token_count_fake": lambda d: TokenCountReward(tiny_models.dllm_tokenizer(), "happy"),
}


@pytest.fixture(scope="module")
def checkpoints(tiny_dir, tmp_path_factory):
    return {**tiny_dir, "causal_lm": tiny_models.save_causal_lm(tmp_path_factory.mktemp("loglik") / "lm")}


@pytest.fixture(scope="module", params=sorted(REWARDS))
def reward(request, checkpoints) -> RewardModel:
    return REWARDS[request.param](checkpoints)


def response_block(reward, responses=RESPONSES, extra=2):
    """Reward-token ids of each response, right-padded by ``extra`` or more: ids [N, W], mask [N, W]."""
    ids = [reward.tokenizer(r, add_special_tokens=False)["input_ids"] for r in responses]
    assert all(reward.tokenizer.unk_token_id not in x for x in ids)
    width = max(len(x) for x in ids) + extra
    pad = ids[0][0]  # any real token: masked out
    tokens = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
    mask = torch.tensor([[True] * len(x) + [False] * (width - len(x)) for x in ids])
    return tokens.to(reward.device), mask.to(reward.device)


def hard_embeds(reward, tokens):
    return reward.embedding_matrix[tokens].detach().clone()  # E_R[ids]: [N, W, D]


def test_members(reward):
    assert isinstance(reward, RewardModel)
    assert isinstance(reward.model, torch.nn.Module)
    assert isinstance(reward.calls, int) and isinstance(reward.usage, ModelUsage)
    assert 0.0 <= reward.min_vocab_coverage <= 1.0
    e = reward.embedding_matrix
    assert e.ndim == 2 and e.shape[0] >= len(reward.tokenizer) and e.device == reward.device
    assert isinstance(reward.device, torch.device)


def test_context_one_row_per_prompt_and_repeat(reward):
    ctx = reward.context(MESSAGES)
    assert isinstance(ctx, RewardContext)
    assert ctx.prefix_ids.shape == ctx.prefix_mask.shape and ctx.prefix_ids.shape[0] == len(MESSAGES)
    assert ctx.prefix_mask.dtype == torch.bool and ctx.prefix_ids.device == reward.device
    twice = ctx.repeat(2)
    assert torch.equal(twice.prefix_ids, ctx.prefix_ids.repeat_interleave(2, 0))


def test_score_text_shape_dtype_device(reward):
    scores = reward.score_text(MESSAGES, RESPONSES)
    assert scores.shape == (3,) and scores.dtype == torch.float32 and scores.device.type == "cpu"
    assert torch.isfinite(scores).all()


def test_text_score_equals_score_of_hard_embeddings(reward):
    """The bridge contract: scoring E_R[ids] of a response's tokens equals scoring its text."""
    tokens, mask = response_block(reward)
    soft = reward.score_embeds(reward.context(MESSAGES), hard_embeds(reward, tokens), mask)
    assert soft.shape == (3,) and soft.dtype == torch.float32 and soft.device == reward.device
    text = reward.score_text(MESSAGES, RESPONSES)
    torch.testing.assert_close(soft.cpu(), text, atol=1e-4, rtol=1e-5)
    assert text.unique().numel() > 1  # the responses score differently: the check can fail


def test_score_embeds_is_differentiable_and_blind_past_the_mask(reward):
    tokens, mask = response_block(reward)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(hard_embeds(reward, tokens).shape, generator=g).to(reward.device)
    e = (hard_embeds(reward, tokens) + 0.1 * noise).requires_grad_(True)
    score = reward.score_embeds(reward.context(MESSAGES), e, mask)
    (grad,) = torch.autograd.grad(score.sum(), e)
    assert torch.isfinite(grad).all()
    assert (grad[mask].abs().sum(-1) > 0).all()  # every response token moves the score
    assert torch.equal(grad[~mask], torch.zeros_like(grad[~mask]))  # positions past the end do not
    garbage = torch.where(mask[..., None], e.detach(), 5.0 * noise.flip(0))
    again = reward.score_embeds(reward.context(MESSAGES), garbage, mask)
    torch.testing.assert_close(again, score.detach(), atol=1e-5, rtol=1e-5)


def test_rows_do_not_depend_on_the_batch_or_left_padding(reward):
    ctx = reward.context(MESSAGES)
    if ctx.prefix_mask.shape[1] > 1:
        assert (~ctx.prefix_mask).any()  # some prefix is left-padded in the batch
    tokens, mask = response_block(reward)
    together = reward.score_embeds(ctx, hard_embeds(reward, tokens), mask)
    texts = reward.score_text(MESSAGES, RESPONSES)
    for i, (m, r) in enumerate(zip(MESSAGES, RESPONSES, strict=True)):
        alone_tokens, alone_mask = response_block(reward, [r])
        alone = reward.score_embeds(reward.context([m]), hard_embeds(reward, alone_tokens), alone_mask)
        torch.testing.assert_close(alone[0], together[i], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(reward.score_text([m], [r])[0], texts[i], atol=1e-5, rtol=1e-5)


def test_usage_counts_every_call(reward):
    tokens, mask = response_block(reward)
    ctx = reward.context(MESSAGES)
    calls, before = reward.calls, reward.usage.as_dict()
    reward.score_text(MESSAGES, RESPONSES)
    text = reward.usage.since(before)
    assert reward.calls > calls and text["forwards"] >= 1 and text["forward_tokens"] > 0
    assert text["backwards"] == 0
    before = reward.usage.as_dict()
    e = hard_embeds(reward, tokens).requires_grad_(True)
    torch.autograd.grad(reward.score_embeds(ctx, e, mask).sum(), e)
    grad = reward.usage.since(before)
    assert grad["forwards"] == 1 and grad["backwards"] == 1 and grad["backward_tokens"] > 0
