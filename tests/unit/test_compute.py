"""Compute accounting: the counts equal the calls the models saw; FLOPs equal the stated formula."""

import pytest
import torch

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, NoGuidance
from entrgi.engine.models.usage import matmul_params
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.types import PromptItem
from entrgi.outputs.compute import compute_summary

PROMPTS = [PromptItem("a", "the cat"), PromptItem("b", "a big dog eat food today"), PromptItem("c", "rain")]


def _count_tokens(module: torch.nn.Module, seen: list[int]):
    """A forward hook recording the token positions of every call (ids or embeddings)."""

    def hook(mod, args, kwargs, out):
        x = kwargs.get("input_ids", kwargs.get("inputs_embeds"))
        x = args[0] if x is None else x
        seen.append(x.shape[0] * x.shape[1])

    return module.register_forward_hook(hook, with_kwargs=True)


@pytest.mark.parametrize("guidance", [GradientGuidance(weight="entropy", inner_steps=2), NoGuidance()])
def test_counts_equal_the_calls_made(lm, reward, guidance):
    steps, length, k = 4, 6, 2
    schedule = DenoisingSchedule(steps=steps, max_new_tokens=length, temperature=0.7, top_p=0.95)
    denoiser = GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=k, seed=0)
    dllm_seen, reward_seen = [], []
    hooks = [_count_tokens(lm.model, dllm_seen), _count_tokens(reward._backbone, reward_seen)]
    try:
        out = denoiser.generate(PROMPTS)
    finally:
        for h in hooks:
            h.remove()
    c = out.counters
    assert c["dllm_calls"] == len(dllm_seen) == steps
    prompt_len = max(len(x) for x in lm.prompt_ids([p.messages() for p in PROMPTS]))
    assert c["dllm_tokens"] == sum(dllm_seen) == steps * len(PROMPTS) * k * (prompt_len + length)
    assert c["reward_forwards"] == len(reward_seen) and c["reward_forward_tokens"] == sum(reward_seen)
    if guidance.requires_reward:
        n, suffix = len(PROMPTS) * k, len(reward.context([PROMPTS[0].messages()]).suffix_ids)
        assert c["reward_backwards"] == steps * 2 == c["guided_steps"] * 2
        assert c["reward_backward_tokens"] == steps * 2 * n * (length + suffix)  # response + suffix, prefix cached
    else:
        assert c["reward_backwards"] == c["reward_backward_tokens"] == 0 and c["reward_forwards"] == 1


def test_matmul_params_drop_an_untied_input_embedding(lm, reward):
    for model in (lm.model, reward.model):
        total = sum(p.numel() for p in model.parameters())
        emb = model.get_input_embeddings().weight
        head = model.get_output_embeddings()
        tied = head is not None and head.weight is emb
        assert matmul_params(model) == (total if tied else total - emb.numel())
    assert matmul_params(reward.model) < sum(p.numel() for p in reward.model.parameters())


def test_flops_follow_the_stated_formula():
    counters = {
        "dllm_calls": 10,
        "dllm_tokens": 1000,
        "reward_forwards": 7,
        "reward_forward_tokens": 300,
        "reward_backwards": 3,
        "reward_backward_tokens": 120,
        "guided_steps": 3,
    }
    out = compute_summary(counters, dllm_params=50, reward_params=20, num_prompts=4)
    assert out["dllm_forwards"] == 10 and out["reward_backwards"] == 3
    assert out["dllm_flops"] == 2 * 50 * 1000
    assert out["reward_flops"] == 2 * 20 * 300 + 2 * 20 * 120
    assert out["flops"] == 100_000 + 16_800 and out["flops_per_prompt"] == 116_800 / 4
    assert "input gradients only" in out["formula"]
