"""LoRA adapters and quantization of a dLLM (``entrgi.engine.models.adapters``) on the testbed dLLM: only
the adapter trains, a saved adapter reloads to the same logits, and bad settings fail with the key."""

import pytest
import torch

from entrgi.engine import rng
from entrgi.engine.models.adapters import add_lora, check_quantization, load_adapter, quantization_kwargs
from entrgi.engine.posttrain import RGRL, Completions, OneStepEstimator, through_first_stop
from entrgi.testbed import load_dllm

TARGETS = ["qkv", "proj", "mlp.0", "mlp.2"]
MESSAGES = [[{"role": "user", "content": "the cat eat food"}], [{"role": "user", "content": "the big cat eat food"}]]
RESPONSES = torch.tensor([[233, 44, 0, 91], [266, 44, 4, 91]])  # row 0 stops at position 2


def completions(lm) -> Completions:
    enc = lm.encode(MESSAGES, RESPONSES.shape[1])
    p = enc.prompt_len
    tokens = enc.tokens.clone()
    tokens[:, p:] = RESPONSES
    mask = through_first_stop(RESPONSES, torch.tensor(lm.stop_token_ids))
    return Completions(tokens, enc.attention_mask[:, :p], p, mask, rng.trajectory_keys(3, torch.tensor([5, 6]), 1))


def base_name(name: str) -> str:
    """A peft-wrapped base parameter's name in the unwrapped model."""
    return name.removeprefix("base_model.model.").replace(".base_layer.", ".")


@pytest.fixture(scope="module")
def trained():
    """The testbed dLLM with a fresh adapter after one AdamW step, and its state before the step."""
    lm = load_dllm(device="cpu")
    before_base = {n: p.detach().clone() for n, p in lm.model.named_parameters()}
    lm.model = add_lora(lm.model, r=4, alpha=8, dropout=0.0, target_modules=TARGETS)
    before_lora = {n: p.detach().clone() for n, p in lm.model.named_parameters() if "lora_" in n}
    c = completions(lm)
    lm.model.train()
    params = [p for p in lm.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2)
    loss = RGRL().loss(OneStepEstimator(p_mask_prompt=0.3).sequence_logps(lm, c), torch.ones(2), prompts=2)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in lm.model.named_parameters() if p.grad is not None}
    opt.step()
    lm.model.eval()
    return lm, before_base, before_lora, grads, c


def test_only_the_adapter_trains(trained):
    lm, before_base, before_lora, grads, _ = trained
    named = dict(lm.model.named_parameters())
    lora = {n for n in named if "lora_" in n}
    assert lora and lora == set(before_lora)
    assert {n for n, p in named.items() if p.requires_grad} == lora
    assert set(grads) <= lora and all(g.isfinite().all() for g in grads.values())
    base = {base_name(n): p for n, p in named.items() if n not in lora}
    assert set(base) == set(before_base)  # every base parameter accounted for
    for name, p in base.items():
        assert torch.equal(p, before_base[name]), name
    assert any(not torch.equal(named[n], before_lora[n]) for n in lora)


def test_a_saved_adapter_reloads_to_the_same_logits(trained, tmp_path):
    lm, *_, c = trained
    lm.model.save_pretrained(tmp_path)
    assert (tmp_path / "adapter_config.json").is_file()
    loaded = load_dllm(device="cpu", adapter=str(tmp_path))
    assert not any(p.requires_grad for p in loaded.model.parameters())
    direct = load_adapter(load_dllm(device="cpu").model, tmp_path)  # frozen by load_adapter itself
    assert any("lora_" in n for n, _ in direct.named_parameters())
    assert not any(p.requires_grad for p in direct.parameters()) and not direct.training
    canvas = torch.cat([c.tokens[:, : c.prompt_len], torch.full_like(c.response, lm.mask_token_id)], 1)
    attention = c.attention(True)
    got = loaded.response_logits(canvas, attention, c.prompt_len)
    torch.testing.assert_close(got, lm.response_logits(canvas, attention, c.prompt_len), atol=1e-6, rtol=1e-6)
    plain = load_dllm(device="cpu").response_logits(canvas, attention, c.prompt_len)
    assert (got - plain).abs().max() > 1e-4  # the adapter is applied: the step changed the logits


def test_train_logits_carry_gradients_and_response_logits_do_not(trained):
    lm, *_, c = trained
    args = (c.tokens, c.attention(False), c.prompt_len)
    train = lm.train_logits(*args)
    frozen = lm.response_logits(*args)
    assert train.requires_grad and train.grad_fn is not None
    assert not frozen.requires_grad and frozen.grad_fn is None
    assert train.dtype == frozen.dtype == torch.float32
    torch.testing.assert_close(train.detach(), frozen, atol=1e-6, rtol=1e-6)


def test_add_lora_rejects_unknown_or_no_target_modules():
    model = load_dllm(device="cpu").model
    with pytest.raises(ValueError, match=r"lora\.target_modules.*\['attn'\]"):
        add_lora(model, r=4, alpha=8, dropout=0.0, target_modules=["qkv", "attn"])
    with pytest.raises(ValueError, match=r"lora\.target_modules is empty"):
        add_lora(model, r=4, alpha=8, dropout=0.0, target_modules=[])
    assert not any("lora_" in n for n, _ in model.named_parameters())  # nothing was wrapped


def test_load_adapter_needs_an_adapter_config(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model\.adapter.*adapter_config\.json"):
        load_adapter(torch.nn.Linear(2, 2), tmp_path)
    with pytest.raises(FileNotFoundError, match=r"model\.adapter"):
        load_dllm(device="cpu", adapter=str(tmp_path))


def test_quantization_settings():
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match=r"model\.quantization=4bit needs a CUDA device"):
        check_quantization("4bit", cpu)
    with pytest.raises(ValueError, match=r"model\.quantization='8bit' is not a quantization"):
        check_quantization("8bit", cpu)
    check_quantization(None, cpu)
    check_quantization("none", cpu)
    assert quantization_kwargs(None, cpu) == {}
    with pytest.raises(ValueError, match="CUDA"):  # before any weights load
        load_dllm(device="cpu", quantization="4bit")
