import pytest
import tiny_models
import torch
from transformers import AutoModel

from entrgi.engine.models import (
    BidirectionalLM,
    CausalLMLogLikReward,
    DreamLM,
    LLaDALM,
    SequenceClassifierReward,
    build_vocab_bridge,
)
from entrgi.engine.models.chat_template import encode_with_bos, split_chat_template
from entrgi.engine.models.vocab import EXACT, FALLBACK, NONE

MSGS = [[{"role": "user", "content": "the cat eat food"}], [{"role": "user", "content": "a dog"}]]


def test_remote_code_checkpoint_loads_through_automodel(tiny_dir):
    model = AutoModel.from_pretrained(tiny_dir["dllm"], trust_remote_code=True)
    assert type(model).__name__ == "TinyDLMForMaskedDiffusion"
    assert "auto_map" in (tiny_dir["dllm"] / "config.json").read_text()
    assert (tiny_dir["dllm"] / "modeling_tiny_dllm.py").exists()


def test_dream_adapter_shifts_and_llada_does_not(tiny_dir):
    dream = DreamLM.from_pretrained(str(tiny_dir["dllm"]), dtype="float32", device="cpu")
    llada = LLaDALM.from_pretrained(
        str(tiny_dir["dllm"]), dtype="float32", device="cpu", mask_token_id=dream.mask_token_id
    )
    enc = dream.encode(MSGS, max_new_tokens=6)
    assert enc.tokens.shape[1] == enc.prompt_len + 6
    assert (enc.tokens[:, enc.prompt_len :] == dream.mask_token_id).all()
    assert not enc.attention_mask[1, 0] and enc.attention_mask[0].all()  # second prompt is left-padded
    p = enc.prompt_len
    # Row 0 has no padding, so the raw forward with no mask is the reference for both adapters.
    raw = dream.model(enc.tokens[:1]).logits
    d = dream.response_logits(enc.tokens, enc.attention_mask, p)
    ll = llada.response_logits(enc.tokens, enc.attention_mask, p)
    assert d.shape == ll.shape == (2, 6, dream.vocab_size)
    torch.testing.assert_close(d[0], raw[0, p - 1 : -1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ll[0], raw[0, p:], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(d[0], ll[0])


def _llada(tiny_dir) -> LLaDALM:
    return LLaDALM.from_pretrained(str(tiny_dir["dllm"]), dtype="float32", device="cpu", mask_token_id=3)


def test_llada_prompt_alone_equals_the_prompt_batched_with_a_longer_one(tiny_dir):
    """LLaDA takes no position ids: its left padding goes to the end of the row, so the short
    prompt's logits (all, and a positions subset) do not change when a longer prompt joins it."""
    lm = _llada(tiny_dir)
    alone, batch = lm.encode(MSGS[1:], 6), lm.encode(MSGS, 6)
    assert not batch.attention_mask[1, 0] and alone.attention_mask.all()  # padded only when batched
    positions = torch.tensor([[5, 0, 2], [1, 4, 3]])

    def logits(enc, at=None):
        return lm.response_logits(enc.tokens, enc.attention_mask, enc.prompt_len, at)

    torch.testing.assert_close(logits(alone)[0], logits(batch)[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits(alone, positions[1:])[0], logits(batch, positions)[1], atol=1e-5, rtol=1e-5)
    lm.pad_to_end = False  # the tiny checkpoint's positions matter: without the move the rows differ
    assert (logits(alone)[0] - logits(batch)[1]).abs().max() > 1e-2


def test_llada_logits_equal_the_unpadded_single_row_forward(tiny_dir):
    """Each row's response logits are the raw model's logits of that row with its padding cut off
    (positions 0.. from its first token), for the full response and a positions subset."""
    lm = _llada(tiny_dir)
    msgs = [*MSGS, [{"role": "user", "content": "red bird song and music today"}]]
    enc = lm.encode(msgs, 6)
    p = enc.prompt_len
    full = lm.response_logits(enc.tokens, enc.attention_mask, p)  # [3, 6, V]
    positions = torch.tensor([[0, 3, 5], [1, 2, 4], [5, 0, 2]])
    part = lm.response_logits(enc.tokens, enc.attention_mask, p, positions)  # [3, 3, V]
    pads = (~enc.attention_mask).sum(-1).tolist()
    assert sorted(pads)[0] == 0 and len(set(pads)) == 3  # three different paddings, one row unpadded
    for i, pad in enumerate(pads):
        raw = lm.model(enc.tokens[i : i + 1, pad:]).logits[0, p - pad :]  # [6, V]
        torch.testing.assert_close(full[i], raw, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(part[i], raw[positions[i]], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cls", [DreamLM, BidirectionalLM, LLaDALM])
def test_logits_at_positions_equal_the_full_logits_gathered(tiny_dir, cls):
    """The head applied at the wanted response positions only (Dream, testbed) or the full logits
    gathered (LLaDA): the same numbers as gathering from every position."""
    lm = cls.from_pretrained(
        str(tiny_dir["dllm"]), dtype="float32", device="cpu", mask_token_id=4, trust_remote_code=True
    )
    enc = lm.encode(MSGS, max_new_tokens=6)
    full = lm.response_logits(enc.tokens, enc.attention_mask, enc.prompt_len)
    positions = torch.tensor([[0, 3, 5], [1, 2, 4]])
    part = lm.response_logits(enc.tokens, enc.attention_mask, enc.prompt_len, positions)
    assert part.shape == (2, 3, lm.vocab_size) and part.dtype == torch.float32
    torch.testing.assert_close(part, full.gather(1, positions[..., None].expand(-1, -1, full.shape[-1])))
    assert (lm._head_name() is not None) == (cls is not LLaDALM)
    assert isinstance(lm.model.get_output_embeddings(), torch.nn.Linear)  # the head is restored


def test_missing_mask_token_is_a_clear_error(tiny_dir):
    tok = tiny_models.reward_tokenizer()  # has no mask token
    model = AutoModel.from_pretrained(tiny_dir["dllm"], trust_remote_code=True)
    with pytest.raises(ValueError, match="model.mask_token_id"):
        DreamLM(model, tok)


def test_prompt_longer_than_context_is_a_clear_error(tiny_dir):
    lm = DreamLM.from_pretrained(str(tiny_dir["dllm"]), dtype="float32", device="cpu")
    long_prompt = [[{"role": "user", "content": " ".join(["cat"] * 120)}]]
    with pytest.raises(ValueError, match=r"sample 'long-1'.*schedule\.max_new_tokens=16"):
        lm.encode(long_prompt, 16, sample_ids=["long-1"])


def test_decode_cuts_at_first_stop_token(tiny_dir):
    lm = DreamLM.from_pretrained(str(tiny_dir["dllm"]), dtype="float32", device="cpu")
    ids = lm.tokenizer.convert_tokens_to_ids(["good", "cat", "<|endoftext|>", "bad", "dog"])
    assert lm.decode(torch.tensor([ids])) == ["good cat"]


def test_vocab_bridge_exact_fallback_none():
    dtok, rtok = tiny_models.dllm_tokenizer(), tiny_models.reward_tokenizer()
    emb = torch.randn(len(rtok), 8)
    bridge = build_vocab_bridge(dtok, rtok, emb, vocab_size=len(dtok) + 3)
    ids = dtok.convert_tokens_to_ids
    r = rtok.convert_tokens_to_ids
    assert bridge.kind[ids("cat")] == EXACT
    torch.testing.assert_close(bridge.matrix[ids("cat")], emb[r("cat")])
    assert bridge.kind[ids("sunshine")] == FALLBACK  # reward splits it into sun + shine
    torch.testing.assert_close(bridge.matrix[ids("sunshine")], (emb[r("sun")] + emb[r("shine")]) / 2)
    assert bridge.kind[ids("zebra")] == NONE  # "z" is outside the reward tokenizer's alphabet
    torch.testing.assert_close(bridge.matrix[ids("zebra")], emb[rtok.unk_token_id])
    assert bridge.matrix.shape == (len(dtok) + 3, 8)  # padding rows of the logits are mapped too
    cov = bridge.coverage
    assert cov.total == len(dtok) and cov.exact + cov.fallback + cov.none == len(dtok)
    assert cov.fallback >= 2 and cov.none >= 4  # sunshine, rainbow / zebra, pizza, jazz, puzzle (+ <|mask|>...)
    with pytest.raises(ValueError, match="reward.min_vocab_coverage"):
        build_vocab_bridge(dtok, rtok, emb, min_coverage=0.99)


def test_reward_text_score_batched_and_no_double_bos(tiny_dir):
    reward = SequenceClassifierReward.from_pretrained(str(tiny_dir["reward"]), dtype="float32", device="cpu")
    msgs = MSGS * 2
    responses = ["good cat", "bad dog . sad", "the sun", "happy"]
    calls = reward.calls
    batched = reward.score_text(msgs, responses)
    assert reward.calls == calls + 1  # one forward for the whole batch
    single = torch.cat([reward.score_text([m], [r]) for m, r in zip(msgs, responses, strict=True)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)
    assert batched.std() > 0
    ctx = reward.context(MSGS)
    first = ctx.prefix_ids[0][ctx.prefix_mask[0]]
    assert first[0].item() == reward.tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert reward.tokenizer.convert_ids_to_tokens(ctx.suffix_ids.tolist()) == ["<|im_end|>"]


def test_differentiable_reward_on_hard_embeddings_equals_text_score(tiny_dir):
    reward = SequenceClassifierReward.from_pretrained(str(tiny_dir["reward"]), dtype="float32", device="cpu")
    dtok = tiny_models.dllm_tokenizer()
    bridge = build_vocab_bridge(dtok, reward.tokenizer, reward.embedding_matrix)
    # responses over words the two tokenizers share exactly; padded with eos after the end
    texts = ["good cat and happy dog", "the sun . bad rain", "red bird"]
    width = 7
    ids = []
    for t in texts:
        x = dtok(t, add_special_tokens=False)["input_ids"]
        ids.append(x + [dtok.eos_token_id] * (width - len(x)))
    tokens = torch.tensor(ids)
    assert (bridge.kind[tokens] == EXACT).all()
    msgs = [MSGS[0], MSGS[1], MSGS[0]]
    ctx = reward.context(msgs)
    mask = torch.cumsum((tokens == dtok.eos_token_id).long(), -1) == 0
    soft = reward.score_embeds(ctx, torch.nn.functional.embedding(tokens, bridge.matrix), mask)
    text = reward.score_text(msgs, texts)
    torch.testing.assert_close(soft, text, atol=1e-4, rtol=0)


def test_bos_written_by_the_template_is_not_doubled(tiny_dir):
    """A Llama-3-style tokenizer: the template writes BOS and the tokenizer would add one too."""
    from tokenizers.processors import TemplateProcessing

    tok = tiny_models.reward_tokenizer()
    bos = "<|im_start|>"  # stands in for <|begin_of_text|>; any special token will do
    tok.backend_tokenizer.post_processor = TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tok.convert_tokens_to_ids(bos))]
    )
    tok.bos_token = bos
    tok.chat_template = "<|im_start|>" + tiny_models.CHATML
    assert tok("cat")["input_ids"][0] == tok.bos_token_id  # would double if added on top of the template
    reward = SequenceClassifierReward.from_pretrained(str(tiny_dir["reward"]), dtype="float32", device="cpu")
    reward.tokenizer = tok
    ctx = reward.context(MSGS[:1])
    ids = ctx.prefix_ids[0][ctx.prefix_mask[0]].tolist()
    assert ids[:2] == [tok.bos_token_id, tok.bos_token_id]  # template BOS + the turn's own <|im_start|>
    assert ids[2] != tok.bos_token_id
    seen = []
    original = reward.model.forward
    reward.model.forward = lambda input_ids=None, **kw: seen.append(input_ids) or original(input_ids=input_ids, **kw)
    reward.score_text(MSGS[:1], ["good cat"])
    assert seen[0][0, :3].tolist() == ids[:3]


def test_prefix_cache_matches_uncached_score_and_gradient(tiny_dir):
    cached = SequenceClassifierReward.from_pretrained(str(tiny_dir["reward"]), dtype="float32", device="cpu")
    plain = SequenceClassifierReward(cached.model, cached.tokenizer, cache_prefix=False)
    msgs = [MSGS[0], MSGS[1], [{"role": "user", "content": "red bird song and music"}]]
    ctx_c, ctx_p = cached.context(msgs).repeat(2), plain.context(msgs).repeat(2)
    assert ctx_c.prefix_kv is not None and ctx_p.prefix_kv is None
    g = torch.Generator().manual_seed(0)
    embeds = torch.randn(6, 5, cached.embedding_matrix.shape[1], generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]] * 2, dtype=torch.bool)
    grads = []
    for reward, ctx in [(cached, ctx_c), (plain, ctx_p)]:
        e = embeds.clone().requires_grad_(True)
        score = reward.score_embeds(ctx, e, mask)
        (grad,) = torch.autograd.grad(score.sum(), e)
        grads.append((score.detach(), grad))
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-5, rtol=1e-5)
    again = cached.score_embeds(ctx_c, embeds, mask)  # the cache is not consumed by a call
    torch.testing.assert_close(again, grads[0][0], atol=1e-6, rtol=1e-6)


def test_remote_code_runs_only_where_the_model_family_needs_it(tiny_dir):
    """trust_remote_code defaults to True for Dream and LLaDA only; the tiny checkpoint ships its own code."""
    from entrgi.engine.models import BidirectionalLM, DreamLM, LLaDALM

    assert DreamLM.remote_code and LLaDALM.remote_code and not BidirectionalLM.remote_code
    with pytest.raises(ValueError, match="trust_remote_code"):
        BidirectionalLM.from_pretrained(str(tiny_dir["dllm"]), dtype="float32", device="cpu")
    assert (
        BidirectionalLM.from_pretrained(
            str(tiny_dir["dllm"]), dtype="float32", device="cpu", trust_remote_code=True
        ).vocab_size
        > 0
    )
    assert DreamLM.from_pretrained(str(tiny_dir["dllm"]), dtype="float32", device="cpu").vocab_size > 0


# ----------------------------------------------------------------- causal LM log-likelihood reward
@pytest.fixture(scope="module")
def loglik(tmp_path_factory):
    path = tiny_models.save_causal_lm(tmp_path_factory.mktemp("loglik") / "lm")
    return CausalLMLogLikReward.from_pretrained(str(path), dtype="float32", device="cpu")


def _by_hand(reward, messages, response, shift=1):
    """Mean log-softmax at the response + suffix ids from one plain forward of the unpadded sequence;
    the logits at position t predict token t + ``shift`` (1 is right)."""
    prefix, suffix = split_chat_template(reward.tokenizer, messages)
    head = encode_with_bos(reward.tokenizer, prefix)
    tail = reward.tokenizer(response, add_special_tokens=False)["input_ids"]
    tail += reward.tokenizer(suffix, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([head + tail])
    with torch.no_grad():
        logp = reward.model(ids).logits[0].log_softmax(-1)  # [S, V]
    targets = torch.arange(len(head), ids.shape[1])
    return logp[targets - shift, ids[0, targets]].mean().item()


def test_loglik_text_score_is_the_mean_log_likelihood_by_hand(loglik):
    msgs = [MSGS[0], MSGS[1], [{"role": "user", "content": "red bird song and music today"}]]
    responses = ["good cat and happy dog", "the sun", "bad"]
    scores = loglik.score_text(msgs, responses)  # one batch: left-padded prefixes
    hand = [_by_hand(loglik, m, r) for m, r in zip(msgs, responses, strict=True)]
    torch.testing.assert_close(scores, torch.tensor(hand), atol=1e-4, rtol=1e-5)
    wrong = [_by_hand(loglik, m, r, shift=0) for m, r in zip(msgs, responses, strict=True)]
    assert min(abs(a - b) for a, b in zip(hand, wrong, strict=True)) > 0.1  # a wrong shift would be caught
    assert (scores < 0).all()


def test_loglik_targets_are_the_nearest_embedding_rows(loglik):
    e = loglik.embedding_matrix
    ids = torch.tensor([[5, 9, 12], [7, 7, 30]])
    assert torch.equal(loglik.nearest_ids(e[ids]), ids)  # exact for hard embeddings
    probs = torch.full((2, 3, len(loglik.tokenizer)), 0.1 / (len(loglik.tokenizer) - 1))
    probs.scatter_(-1, ids[..., None], 0.9)
    assert torch.equal(loglik.nearest_ids(probs @ e[: len(loglik.tokenizer)]), ids)  # a peaked mixture


def test_loglik_cache_matches_uncached_score_and_gradient(loglik):
    plain = CausalLMLogLikReward(loglik.model, loglik.tokenizer, cache_prefix=False)
    msgs = [MSGS[0], MSGS[1]]
    ctx_c, ctx_p = loglik.context(msgs).repeat(2), plain.context(msgs).repeat(2)
    assert ctx_c.prefix_kv is not None and ctx_p.prefix_kv is None
    g = torch.Generator().manual_seed(0)
    embeds = torch.randn(4, 5, loglik.embedding_matrix.shape[1], generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    out = []
    for reward, ctx in [(loglik, ctx_c), (plain, ctx_p)]:
        e = embeds.clone().requires_grad_(True)
        score = reward.score_embeds(ctx, e, mask)
        out.append((score.detach(), torch.autograd.grad(score.sum(), e)[0]))
    torch.testing.assert_close(out[0][0], out[1][0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[0][1], out[1][1], atol=1e-5, rtol=1e-5)


def test_loglik_reward_composes_and_loads_from_its_config(tmp_path):
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate
    from omegaconf.errors import MissingMandatoryValue

    path = tiny_models.save_causal_lm(tmp_path / "lm")
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        cfg = compose("run", overrides=["reward=causal_lm_loglik", f"reward.path={path}", "paths.output_dir=x"])
        missing = compose("run", overrides=["reward=causal_lm_loglik", "paths.output_dir=x"])
        skywork = compose("run", overrides=["reward=skywork_v2_qwen3_0_6b", "paths.output_dir=x"])
    assert list(cfg.reward) == list(skywork.reward)  # the same keys as the sequence classifiers'
    reward = instantiate(cfg.reward, dtype="float32", device="cpu")
    assert isinstance(reward, CausalLMLogLikReward) and reward.cache_prefix
    with pytest.raises(MissingMandatoryValue, match="reward.path"):
        instantiate(missing.reward)


def test_guidance_raises_the_loglik_reward(tiny_dir, tmp_path):
    """EntRGi through the log-likelihood reward: finite traces, and the inner steps raise the soft reward."""
    from entrgi.engine.denoiser import GuidedDenoiser
    from entrgi.engine.guidance import GradientGuidance
    from entrgi.engine.schedule import DenoisingSchedule
    from entrgi.engine.types import PromptItem

    lm = DreamLM.from_pretrained(str(tiny_dir["dllm"]), dtype="float32", device="cpu")
    path = tiny_models.save_causal_lm(tmp_path / "lm", tokenizer=tiny_models.dllm_tokenizer())
    reward = CausalLMLogLikReward.from_pretrained(str(path), dtype="float32", device="cpu")
    schedule = DenoisingSchedule(steps=3, max_new_tokens=6, temperature=0.7, top_p=0.95)
    guidance = GradientGuidance(weight="entropy", inner_steps=3, lr=0.5)
    denoiser = GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=2, seed=0)
    assert denoiser.bridge.coverage.usable == 1.0  # one tokenizer: every token maps exactly
    out = denoiser.generate([PromptItem("a", "the cat"), PromptItem("b", "a big dog eat food today")])
    again = reward.score_text([m for it in out.items for m in [it.messages()] * 2], sum(out.responses, []))
    torch.testing.assert_close(out.rewards.view(-1), again)
    before, after = out.trace["reward_soft_before"], out.trace["reward_soft_after"]
    assert torch.isfinite(before).all() and torch.isfinite(after).all()
    assert (after - before).mean() > 0


# ----------------------------------------------------------------- shared HF reward checks
BAD_OPTIONS = [
    ("score_batch_size", 0),
    ("score_batch_size", -4),
    ("score_batch_size", True),  # a bool is not a count
    ("score_batch_size", 8.0),
    ("min_vocab_coverage", -0.1),
    ("min_vocab_coverage", 1.5),
    ("min_vocab_coverage", float("nan")),
    ("min_vocab_coverage", True),
    ("cache_prefix", "false"),  # a non-empty string would read as true
    ("cache_prefix", 1),
    ("cache_prefix", None),
]


@pytest.mark.parametrize("cls", [SequenceClassifierReward, CausalLMLogLikReward])
@pytest.mark.parametrize(("key", "value"), BAD_OPTIONS)
def test_reward_options_are_checked_before_anything_loads(cls, key, value):
    """A bad value names its key, before the (absent) checkpoint is read: no OSError."""
    with pytest.raises(ValueError, match=rf"reward\.{key} must be"):
        cls.from_pretrained("org/absent", device="cpu", **{key: value})
    if key == "cache_prefix":  # the loader's own switch is checked the same way
        with pytest.raises(ValueError, match=r"reward\.trust_remote_code must be"):
            cls.from_pretrained("org/absent", device="cpu", trust_remote_code=value)


@pytest.mark.parametrize(("key", "value"), BAD_OPTIONS)
def test_reward_constructors_check_their_options(reward, loglik, key, value):
    for built in (reward, loglik):
        with pytest.raises(ValueError, match=rf"reward\.{key} must be"):
            type(built)(built.model, built.tokenizer, **{key: value})
    ok = type(reward)(reward.model, reward.tokenizer, score_batch_size=1, min_vocab_coverage=1.0, cache_prefix=False)
    assert (ok.score_batch_size, ok.min_vocab_coverage, ok.cache_prefix) == (1, 1.0, False)


def test_both_reward_kinds_share_loading_context_and_backbone(reward, loglik):
    """One loader and one context for both kinds; the backbone returns hidden states, not scores."""
    from entrgi.engine.models import HFRewardModel

    for built in (reward, loglik):
        assert isinstance(built, HFRewardModel) and type(built).context is HFRewardModel.context
        assert type(built).from_pretrained.__func__ is HFRewardModel.from_pretrained.__func__
        hidden = built._backbone(input_ids=torch.tensor([[5, 6, 7]])).last_hidden_state
        assert hidden.shape == (1, 3, built.embedding_matrix.shape[1])
    full, cut = reward.context(MSGS), loglik.context(MSGS)  # the causal LM keeps the last prefix column out
    assert full.prefix_kv[0][0].shape[2] == full.prefix_ids.shape[1]
    assert cut.prefix_kv[0][0].shape[2] == cut.prefix_ids.shape[1] - 1


@pytest.mark.parametrize("config_pad", [None, "other"])
def test_text_scores_pad_with_the_id_the_classifier_pools_by(tiny_dir, config_pad):
    """transformers reads a classifier's score at the last token that is not config.pad_token_id:
    padding with another id would read shorter rows' scores off a padding column."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_dir["reward"]))
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_dir["reward"]), num_labels=1)
    other = next(i for i in range(len(tokenizer)) if i != tokenizer.pad_token_id and i not in tokenizer.all_special_ids)
    model.config.pad_token_id = None if config_pad is None else other
    reward = SequenceClassifierReward(model, tokenizer)
    assert reward.pad_token_id == model.config.pad_token_id == (tokenizer.pad_token_id if config_pad is None else other)
    messages = [[{"role": "user", "content": "hi"}]] * 2
    responses = ["a", "a much longer response than the first one"]
    together = reward.score_text(messages, responses)
    alone = torch.cat([reward.score_text(messages[:1], [r]) for r in responses])
    assert torch.allclose(together, alone, atol=1e-5)


def test_pad_rows_pads_right_or_left_and_marks_the_tokens():
    from entrgi.engine.models.padding import pad_rows

    ids, mask = pad_rows([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[True] * 3, [True, False, False]]
    ids, mask = pad_rows([[5, 6, 7], [8]], pad_id=0, left=True)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[True] * 3, [False, False, True]]
    assert ids.dtype == torch.long and mask.dtype == torch.bool
