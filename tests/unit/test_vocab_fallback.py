"""reward.vocab_fallback: encode (ours) vs unk (the authors' token mapping), the bridge's reward ids,
and model.stop_tokens."""

import pytest
import tiny_models
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from entrgi.engine.models import DreamLM, build_vocab_bridge
from entrgi.engine.models.vocab import EXACT, FALLBACK, NONE

PAD_ROWS = 3  # logits rows past the dLLM tokenizer


def no_unk_tokenizer() -> PreTrainedTokenizerFast:
    """A reward tokenizer that declares no unk token (like Qwen3's); eos is id 2."""
    vocab = {w: i for i, w in enumerate(["<pad>", "<|endoftext|>", "<|im_end|>", "cat", "dog", "good", "the"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<pad>")


def authors_token_mapping(dtok, rtok, vocab_size: int) -> torch.Tensor:
    """Exact string match, else the reward unk id, else its eos id. (The authors write
    ``unk_token_id or eos_token_id``, which also takes eos when unk is id 0; here unk is id 0.)"""
    default = rtok.unk_token_id if rtok.unk_token_id is not None else rtok.eos_token_id
    mapping = torch.full((vocab_size,), default, dtype=torch.long)
    rvocab = rtok.get_vocab()
    for tok, did in dtok.get_vocab().items():
        if did < vocab_size and tok in rvocab:
            mapping[did] = rvocab[tok]
    return mapping


@pytest.mark.parametrize("rtok", [tiny_models.reward_tokenizer(), no_unk_tokenizer()], ids=["unk", "no_unk"])
def test_unk_fallback_is_the_authors_token_mapping(rtok):
    dtok = tiny_models.dllm_tokenizer()
    emb = torch.randn(len(rtok), 8)
    vocab_size = len(dtok) + PAD_ROWS
    bridge = build_vocab_bridge(dtok, rtok, emb, vocab_size, min_coverage=0.0, fallback="unk")
    expected = authors_token_mapping(dtok, rtok, vocab_size)
    assert torch.equal(bridge.ids, expected)
    torch.testing.assert_close(bridge.matrix, emb[expected])  # the authors' mapped embeddings
    default = rtok.unk_token_id if rtok.unk_token_id is not None else rtok.eos_token_id
    unmatched = bridge.kind != EXACT
    assert (bridge.ids[unmatched] == default).all() and unmatched[-PAD_ROWS:].all()
    assert (bridge.kind[unmatched] == NONE).all()  # the unk / eos row is no match: counted as none
    cov = bridge.coverage
    assert cov.fallback == 0 and cov.exact + cov.none == len(dtok)
    assert cov.exact == int((bridge.kind[: len(dtok)] == EXACT).sum()) > 0


def test_encode_ids_and_coverage_against_unk():
    dtok, rtok = tiny_models.dllm_tokenizer(), tiny_models.reward_tokenizer()
    emb = torch.randn(len(rtok), 8)
    d, r = dtok.convert_tokens_to_ids, rtok.convert_tokens_to_ids
    enc = build_vocab_bridge(dtok, rtok, emb, len(dtok) + PAD_ROWS)
    unk = build_vocab_bridge(dtok, rtok, emb, len(dtok) + PAD_ROWS, fallback="unk")
    assert enc.ids.dtype == torch.long and enc.ids.shape == (len(dtok) + PAD_ROWS,)
    assert enc.kind[d("cat")] == EXACT and enc.ids[d("cat")] == unk.ids[d("cat")] == r("cat")
    # sunshine: the mean of sun + shine under encode (its first id), the unk row under unk
    assert enc.kind[d("sunshine")] == FALLBACK and enc.ids[d("sunshine")] == r("sun")
    torch.testing.assert_close(enc.matrix[d("sunshine")], (emb[r("sun")] + emb[r("shine")]) / 2)
    assert unk.kind[d("sunshine")] == NONE and unk.ids[d("sunshine")] == rtok.unk_token_id
    torch.testing.assert_close(unk.matrix[d("sunshine")], emb[rtok.unk_token_id])
    assert enc.kind[d("zebra")] == NONE and enc.ids[d("zebra")] == rtok.unk_token_id  # no usable encoding
    assert (enc.ids[-PAD_ROWS:] == rtok.unk_token_id).all()
    # every id EXACT in one is EXACT in the other, and matched alike; only the fallbacks differ
    assert torch.equal(enc.kind == EXACT, unk.kind == EXACT)
    assert torch.equal(enc.ids[enc.kind != FALLBACK], unk.ids[enc.kind != FALLBACK])
    # min_vocab_coverage bounds the exact matches alone under unk
    assert unk.coverage.exact == enc.coverage.exact and unk.coverage.usable < enc.coverage.usable
    between = (unk.coverage.usable + enc.coverage.usable) / 2
    build_vocab_bridge(dtok, rtok, emb, min_coverage=between)
    with pytest.raises(ValueError, match=r"reward\.vocab_fallback=unk.*reward\.min_vocab_coverage"):
        build_vocab_bridge(dtok, rtok, emb, min_coverage=between, fallback="unk")


def test_bad_fallback_names_the_key():
    with pytest.raises(ValueError, match="reward.vocab_fallback"):
        build_vocab_bridge(
            tiny_models.dllm_tokenizer(), tiny_models.reward_tokenizer(), torch.zeros(400, 2), fallback="eos"
        )


def test_stop_tokens_add_exactly_their_ids_to_eos_and_pad(lm):
    tok = lm.tokenizer
    base = DreamLM(lm.model, tok, stop_tokens=[]).stop_token_ids
    assert base == sorted({tok.eos_token_id, tok.pad_token_id})
    im_end = DreamLM(lm.model, tok, stop_tokens=["<|im_end|>"]).stop_token_ids
    assert set(im_end) - set(base) == {tok.convert_tokens_to_ids("<|im_end|>")} and set(base) <= set(im_end)
