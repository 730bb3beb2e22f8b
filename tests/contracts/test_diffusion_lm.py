"""The DiffusionLM contract (entrgi.engine.models.base), run by every dLLM adapter in the project.

A new adapter adds one entry to ``MODELS``; every test below then runs on it.
"""

from __future__ import annotations

import pytest
import torch

from entrgi.engine.models import BidirectionalLM, DiffusionLM, DreamLM, LLaDALM
from entrgi.testbed import load_dllm

MESSAGES = [  # different lengths: encode left-pads
    [{"role": "user", "content": "the cat eat food"}],
    [{"role": "user", "content": "a dog"}],
    [{"role": "user", "content": "red bird song and music today"}],
]
LENGTH = 6


def _tiny(cls, **kwargs):
    return lambda d: cls.from_pretrained(str(d["dllm"]), dtype="float32", device="cpu", **kwargs)


MODELS = {
    "dream": _tiny(DreamLM),
    "llada": _tiny(LLaDALM, mask_token_id=3),  # the tiny tokenizer's <|mask|>, not LLaDA's 126336
    "bidirectional": _tiny(BidirectionalLM, trust_remote_code=True),
    "testbed": lambda d: load_dllm(device="cpu"),
}
# Known departures from the contract, each an expected failure until fixed (strict: a fix is noticed).
# Keys: (MODELS key, property), e.g. ("llada", "padding"); values: the reason.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def known_gap(request, prop: str) -> None:
    reason = KNOWN_GAPS.get((request.node.callspec.params["lm"], prop))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.fixture(scope="module", params=sorted(MODELS))
def lm(request, tiny_dir) -> DiffusionLM:
    return MODELS[request.param](tiny_dir)


def test_members(lm):
    assert isinstance(lm, DiffusionLM)
    assert isinstance(lm.model, torch.nn.Module)
    assert all(p.device == lm.device for p in lm.model.parameters())
    assert lm.vocab_size >= len(lm.tokenizer)
    assert 0 <= lm.mask_token_id < lm.vocab_size and 0 <= lm.pad_token_id < lm.vocab_size
    assert lm.tokenizer.eos_token_id in lm.stop_token_ids and lm.pad_token_id in lm.stop_token_ids
    assert lm.max_length is None or (isinstance(lm.max_length, int) and lm.max_length > 0)


def test_encode_lays_out_the_prompt_ids_left_padded_then_masks(lm):
    ids = lm.prompt_ids(MESSAGES)
    assert len(ids) == 3 and all(isinstance(t, int) for row in ids for t in row)
    assert len({len(x) for x in ids}) == 3
    enc = lm.encode(MESSAGES, LENGTH)
    p = max(len(x) for x in ids)
    assert enc.prompt_len == p and enc.tokens.shape == enc.attention_mask.shape == (3, p + LENGTH)
    assert enc.tokens.device == enc.attention_mask.device == lm.device and enc.attention_mask.dtype == torch.bool
    for row, x in enumerate(ids):
        pad = p - len(x)
        assert enc.tokens[row, pad:p].tolist() == x
        assert (enc.tokens[row, :pad] == lm.pad_token_id).all()
        assert enc.attention_mask[row].tolist() == [False] * pad + [True] * (len(x) + LENGTH)
    assert (enc.tokens[:, p:] == lm.mask_token_id).all()


def test_prompt_longer_than_the_context_is_refused_by_name(lm):
    if lm.max_length is None:
        pytest.skip("no declared context size")
    long = [[{"role": "user", "content": " ".join(["cat"] * lm.max_length)}]]
    with pytest.raises(ValueError, match="sample 'long-1'"):
        lm.encode(long, LENGTH, sample_ids=["long-1"])


def test_response_logits_shape_dtype_and_positions(lm):
    enc = lm.encode(MESSAGES, LENGTH)
    full = lm.response_logits(enc.tokens, enc.attention_mask, enc.prompt_len)
    assert full.shape == (3, LENGTH, lm.vocab_size) and full.dtype == torch.float32 and full.device == lm.device
    assert torch.isfinite(full).all()
    positions = torch.tensor([[0, 3, 5], [1, 2, 4], [5, 0, 2]], device=lm.device)
    part = lm.response_logits(enc.tokens, enc.attention_mask, enc.prompt_len, positions)
    assert part.shape == (3, 3, lm.vocab_size) and part.dtype == torch.float32
    torch.testing.assert_close(part, full.gather(1, positions[..., None].expand(-1, -1, full.shape[-1])))


def test_a_rows_logits_depend_neither_on_the_batch_nor_its_left_padding(lm, request):
    known_gap(request, "padding")
    batch = lm.encode(MESSAGES, LENGTH)
    assert (~batch.attention_mask).any(-1).sum() == 2  # two of the three prompts are left-padded
    together = lm.response_logits(batch.tokens, batch.attention_mask, batch.prompt_len)
    for i, m in enumerate(MESSAGES):
        alone = lm.encode([m], LENGTH)
        logits = lm.response_logits(alone.tokens, alone.attention_mask, alone.prompt_len)
        torch.testing.assert_close(logits[0], together[i], atol=1e-5, rtol=1e-5)


def test_response_logits_read_the_canvas(lm):
    """Filling a response position changes the logits elsewhere (the model sees the canvas)."""
    enc = lm.encode(MESSAGES[:1], LENGTH)
    before = lm.response_logits(enc.tokens, enc.attention_mask, enc.prompt_len)
    filled = enc.tokens.clone()
    filled[0, enc.prompt_len + 2] = lm.prompt_ids(MESSAGES[:1])[0][-1]
    after = lm.response_logits(filled, enc.attention_mask, enc.prompt_len)
    assert not torch.allclose(before[0, [0, 1, 3, 4, 5]], after[0, [0, 1, 3, 4, 5]])


def test_decode_cuts_at_the_first_stop_token(lm):
    tok = lm.tokenizer
    words = [i for i in range(len(tok)) if i not in tok.all_special_ids and i not in lm.stop_token_ids][:3]
    expected = tok.batch_decode([words[:2]], skip_special_tokens=True)[0]
    assert expected and tok.decode([words[2]], skip_special_tokens=True) not in ("", expected)
    rows = torch.tensor([[words[0], words[1], stop, words[2]] for stop in lm.stop_token_ids])
    assert lm.decode(rows) == [expected] * len(lm.stop_token_ids)
    assert lm.decode(torch.tensor([words[:2]])) == [expected]  # no stop token: all of it
