"""``guidance.fp32=false``: phi and Adam's m and v in the dLLM's logits dtype (bf16), as the authors keep them."""

import pytest
import torch

from entrgi.data.sources import TestbedPromptSource
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, adam
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.testbed import load_dllm, load_reward


@pytest.fixture(scope="module")
def bf16_models():
    return load_dllm(dtype="bfloat16", device="cpu"), load_reward(dtype="float32", device="cpu")


def _run(models, fp32, monkeypatch):
    """One short EntRGi generation; records the dtypes of phi, m and v each time Adam is built."""
    seen = []
    real = adam.RowAdam

    class Recording(real):
        def __init__(self, param, lr, *args, **kwargs):
            super().__init__(param, lr, *args, **kwargs)
            seen.append((param.dtype, self.m.dtype, self.v.dtype))

    monkeypatch.setattr("entrgi.engine.guidance.gradient.RowAdam", Recording)
    lm, reward = models
    schedule = DenoisingSchedule(steps=3, max_new_tokens=6, temperature=0.7, top_p=0.95)
    guidance = GradientGuidance(weight="entropy", inner_steps=2, lr=0.5, fp32=fp32)
    items = TestbedPromptSource(limit=1, seed=1).load().items
    out = GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=2, seed=0).generate(items)
    return out, seen


def test_state_dtype_follows_the_flag(bf16_models, monkeypatch):
    assert bf16_models[0].logits_dtype == torch.bfloat16
    out32, seen32 = _run(bf16_models, True, monkeypatch)
    out16, seen16 = _run(bf16_models, False, monkeypatch)
    assert seen32 and set(seen32) == {(torch.float32,) * 3}
    assert seen16 and set(seen16) == {(torch.bfloat16,) * 3}
    # the first step starts from the same logits and draws the same tokens (drawn in fp32 either way):
    # its soft reward differs only by e_soft = softmax(phi / tau) @ E_R computed in bf16
    a, b = out32.trace["reward_soft_before"][..., 0], out16.trace["reward_soft_before"][..., 0]
    torch.testing.assert_close(b, a, atol=0.01 * a.abs().max().item(), rtol=0.0)
    assert not torch.equal(a, b)  # but it is bf16 arithmetic
    assert torch.isfinite(out16.trace["reward_soft_after"]).all() and torch.isfinite(out16.rewards).all()


def test_fp32_false_on_an_fp32_model_changes_nothing(monkeypatch):
    models = (load_dllm(dtype="float32", device="cpu"), load_reward(dtype="float32", device="cpu"))
    out32, _ = _run(models, True, monkeypatch)
    out_same, seen = _run(models, False, monkeypatch)
    assert set(seen) == {(torch.float32,) * 3}
    assert out32.responses == out_same.responses
    torch.testing.assert_close(out32.rewards, out_same.rewards, atol=0.0, rtol=0.0)
