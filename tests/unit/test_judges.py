"""Held-out judges: the oracle, a reward model and LMUnit on tiny checkpoints; records and summaries."""

from __future__ import annotations

import copy
import math
import random
import re
import sys
from types import SimpleNamespace

import pytest
import tiny_models
import torch
from fakes import LengthJudge
from hydra import compose, initialize_config_module
from transformers import AutoModelForCausalLM, AutoTokenizer

from entrgi.engine.models.reward import SequenceClassifierReward
from entrgi.judges import (
    LMUnitJudge,
    OracleJudge,
    RewardModelJudge,
    judge_records,
    judge_summary,
    record_messages,
)
from entrgi.judges.lmunit import (
    DEFAULT_UNIT_TESTS,
    LMUNIT_TEMPLATE,
    MAX_NEW_TOKENS,
    TOP_LOGPROBS,
    TransformersScorer,
    VLLMScorer,
    eos_ids,
)
from entrgi.judges.lmunit_parse import (
    DIGITS,
    NO_DIGIT_IN_TOP,
    NO_SCORE_TOKEN,
    NOT_A_DIGIT,
    Generation,
    ParsedScore,
    parse_generation,
    parse_score,
    score_position,
)
from entrgi.testbed import oracle
from entrgi.testbed.language import default_grammar

CHATS = [
    [{"role": "user", "content": "tell me about the cat ."}],
    [{"role": "system", "content": "be kind"}, {"role": "user", "content": "sing a song"}],
]
RESPONSES = [["the cat is happy .", "bad rain", "a big red dog and a small bird play today ."], ["good song"]]


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp("judges")
    return {
        "lm": tiny_models.save_causal_lm(root / "lm"),  # answers {"score": d} by its weights
        "random_lm": tiny_models.save_causal_lm(root / "random_lm", script=False),  # scripted by a hook
        "reward": tiny_models.save_reward(root / "reward", seed=1),
        "reward0": tiny_models.save_reward(root / "reward0", seed=0),
    }


@pytest.fixture(scope="module")
def lmunit(ckpt):
    return LMUnitJudge.from_pretrained(
        str(ckpt["lm"]), dtype="float32", device="cpu", batch_size=4, backend="transformers"
    )


# ----------------------------------------------------------------- oracle
def test_oracle_judge_matches_the_oracle_on_the_last_user_turn():
    grammar = default_grammar()
    rng = random.Random(3)
    prompt = grammar.sample_prompt(rng)
    responses = [grammar.sample_response(prompt, rng), grammar.sample_response(prompt, rng), "cat cat cat"]
    chat = [{"role": "system", "content": "ignored"}, {"role": "user", "content": prompt.text}]
    [fields] = OracleJudge().score([chat], [responses])
    assert len(fields) == 3
    for f, r in zip(fields, responses, strict=True):
        truth = oracle.score(prompt, r)
        assert f == {
            "score": truth.total,
            "oracle_total": truth.total,
            "grammatical": truth.grammatical,
            "on_topic": truth.on_topic,
            "sentiment": truth.sentiment,
            "repetition": truth.repetition,
        }
    assert fields[0]["score"] > 0  # a sampled response is grammatical: a non-trivial comparison
    with pytest.raises(ValueError, match="not a testbed prompt"):
        OracleJudge().score([[{"role": "user", "content": "what is 2+2?"}]], [["4"]])


# ----------------------------------------------------------------- reward model
def test_reward_model_judge_equals_score_text(ckpt):
    judge = RewardModelJudge.from_pretrained(str(ckpt["reward"]), dtype="float32", device="cpu", batch_size=2)
    reward = SequenceClassifierReward.from_pretrained(str(ckpt["reward"]), dtype="float32", device="cpu")
    out = judge.score(CHATS, RESPONSES)
    flat_chats = [c for c, rs in zip(CHATS, RESPONSES, strict=True) for _ in rs]
    truth = reward.score_text(flat_chats, [r for rs in RESPONSES for r in rs]).tolist()
    got = [f["score"] for fs in out for f in fs]
    assert [len(fs) for fs in out] == [3, 1] and all(set(f) == {"score"} for fs in out for f in fs)
    assert got == pytest.approx(truth, abs=1e-5)
    other = RewardModelJudge.from_pretrained(str(ckpt["reward0"]), dtype="float32", device="cpu")
    assert [f["score"] for fs in other.score(CHATS, RESPONSES) for f in fs] != pytest.approx(got, abs=1e-3)


def test_reward_model_judge_errors_name_the_judge_keys(ckpt):
    with pytest.raises(ValueError, match="judge.batch_size"):
        RewardModelJudge.from_pretrained(str(ckpt["reward"]), batch_size=0)
    with pytest.raises(ValueError, match="judge.device"):
        RewardModelJudge.from_pretrained(str(ckpt["reward"]), device="tpu")
    with pytest.raises(ValueError, match="judge.dtype"):
        RewardModelJudge.from_pretrained(str(ckpt["reward"]), dtype="int3", device="cpu")


# ----------------------------------------------------------------- LMUnit: reading an answer
L = math.log
QWEN_ANSWER = ['{"', "score", '":', " ", "4", "}"]  # how Qwen2.5 splits {"score": 4}


def _answer(tokens, score_top):
    """tokens plus per position a top list: ``score_top`` at position 4 (where Qwen's digit is)."""
    top = [[(t, 0.0)] for t in tokens]
    if len(tokens) > 4:
        top[4] = score_top
    return tokens, top


def test_parse_score_is_the_renormalized_digit_expectation_two_tokens_after_score():
    top = [("4", L(0.6)), ("3", L(0.2)), ("5", L(0.1)), (" 4", L(0.05)), ("7", L(0.03)), ("4.", L(0.01))]
    assert score_position(QWEN_ANSWER) == 4  # i + 3 for "score" at i = 1
    got = parse_score(*_answer(QWEN_ANSWER, top))
    assert got.reason is None and got.score == pytest.approx((4 * 0.6 + 3 * 0.2 + 5 * 0.1) / 0.9)
    # some digits absent from the top-20: renormalized over those present
    assert parse_score(*_answer(QWEN_ANSWER, [("x", L(0.9)), ("2", L(0.06)), ("5", L(0.02))])).score == pytest.approx(
        (2 * 0.06 + 5 * 0.02) / 0.08
    )
    # a token string listed twice keeps its later log-probability (the library's dict)
    assert parse_score(*_answer(QWEN_ANSWER, [("4", L(0.5)), ("3", L(0.1)), ("4", L(0.1))])).score == pytest.approx(3.5)
    assert parse_score(*_answer(QWEN_ANSWER, [("0", 0.0)])).score == 0.0  # the library's scale starts at 0
    assert parse_score(*_answer(QWEN_ANSWER, [("6", 0.0)])).score == 6.0
    spaced = ['{"', "score", '":', " 4", "}"]  # a tokenizer that joins the space and the digit: i + 3 is "}"
    assert parse_score(spaced, [[(t, 0.0)] for t in spaced]) == ParsedScore(None, NOT_A_DIGIT)


def test_parse_score_failures_are_none_with_a_reason():
    digits = [("4", L(0.7)), ("3", L(0.3))]
    no_key = ['{"', "scores", '":', " ", "4", "}"]
    assert parse_score(*_answer(no_key, digits)) == ParsedScore(None, NO_SCORE_TOKEN)
    assert parse_score(*_answer(['{"', "score", '"', ":", " 4", "}"], digits)).reason == NO_SCORE_TOKEN
    assert parse_score(['{"', "score", '":', " "], [[("x", 0.0)]] * 4) == ParsedScore(None, NO_SCORE_TOKEN)  # ended
    assert parse_score([], []) == ParsedScore(None, NO_SCORE_TOKEN)
    for word in ("high", "7", "4.5", ""):
        tokens = ['{"', "score", '":', " ", word, "}"]
        assert parse_score(*_answer(tokens, digits)) == ParsedScore(None, NOT_A_DIGIT), word
    stripped = ['{"', "score", '":', " ", " 4 ", "}"]  # the score token is stripped, the top-20 strings are not
    assert parse_score(*_answer(stripped, digits)).score == pytest.approx(3.7)
    none_there = [(" 4", L(0.5)), ("4 ", L(0.2)), ("7", L(0.2)), ("four", L(0.1))]
    assert parse_score(*_answer(QWEN_ANSWER, none_there)) == ParsedScore(None, NO_DIGIT_IN_TOP)
    assert NO_DIGIT_IN_TOP == "no_digit_in_top20"


def test_parse_score_first_match_wins():
    tokens = ['{"', "score", '":', " ", "2", ",", "score", '":', " ", "5", "}"]
    top = [[(t, 0.0)] for t in tokens]
    top[4], top[9] = [("2", 0.0)], [("5", 0.0)]
    assert score_position(tokens) == 4 and parse_score(tokens, top).score == 2.0
    tokens[4] = "x"  # the first match is read even when it fails
    assert parse_score(tokens, top) == ParsedScore(None, NOT_A_DIGIT)


def test_parse_generation_decodes_each_token_alone():
    names = dict(enumerate(QWEN_ANSWER + ["3", "<eos>"]))
    gen = Generation(
        ids=[0, 1, 2, 3, 4, 5, 7],
        top_ids=[[i] for i in (0, 1, 2, 3)] + [[4, 6, 7]] + [[5], [7]],
        top_logprobs=[[0.0]] * 4 + [[L(0.75), L(0.25), L(0.0001)]] + [[0.0], [0.0]],
    )
    assert parse_generation(gen, names.__getitem__).score == pytest.approx((4 * 0.75 + 3 * 0.25) / 1.0)


# ----------------------------------------------------------------- LMUnit: the judge on a scripted tiny LM
SCORE_SCRIPT = {  # input token -> the next tokens a hook pushes up: {"score": d} then eos
    "assistant": ['{"'],
    '{"': ["score"],
    "score": ['":'],
    '":': [" "],
    " ": list(DIGITS),  # all score digits alike: their relative probabilities stay the model's own
    **{d: ["}"] for d in DIGITS},
    "}": ["<|endoftext|>"],
}
NO_SCORE_SCRIPT = SCORE_SCRIPT | {'{"': ['":']}  # {": d} : never writes "score"


def script_hook(model, tokenizer, script, bias=100.0):
    """A forward hook adding ``bias`` to the logits of the tokens ``script`` lists after each input token."""
    vocab = tokenizer.get_vocab()
    table = torch.zeros(model.config.vocab_size, model.config.vocab_size)
    for src, targets in script.items():
        table[vocab[src], [vocab[t] for t in targets]] = bias

    def hook(module, args, kwargs, output):
        ids = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]
        n = output.logits.shape[1]  # the last n positions (logits_to_keep)
        output.logits = output.logits + table[ids[:, -n:]].to(output.logits)
        return output

    return model.register_forward_hook(hook, with_kwargs=True)


@pytest.fixture(scope="module")
def hooked(ckpt):
    """An LMUnit judge on the random tiny LM (no script in its weights) and its model, for a hook."""
    tok = AutoTokenizer.from_pretrained(ckpt["random_lm"])
    model = AutoModelForCausalLM.from_pretrained(ckpt["random_lm"], dtype=torch.float32)
    scorer = TransformersScorer(model, tok.pad_token_id, eos_ids(tok, model), batch_size=3)
    return LMUnitJudge(tok, scorer, unit_tests=["Is it good ?", "Does it run ?"]), model


def _by_hand(judge, model, query, response, test):
    """One full forward over prompt + `{"` `score` `":` ` `: the digit expectation over the top-20 there."""
    tok = judge.tokenizer
    ids = judge.judge_input(query, response, test) + tok.convert_tokens_to_ids(['{"', "score", '":', " "])
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([ids])).logits[0, -1].float(), -1)
    top = logp.topk(20)
    p = {tok.decode([i]): math.exp(v) for i, v in zip(top.indices.tolist(), top.values.tolist(), strict=True)}
    assert {d for d in DIGITS if d in p} == set(DIGITS)
    return sum(int(d) * p[d] for d in DIGITS) / sum(p[d] for d in DIGITS)


def test_lmunit_scores_a_scripted_answer_like_a_hand_computation(hooked):
    judge, model = hooked
    handle = script_hook(model, judge.tokenizer, SCORE_SCRIPT)
    try:
        out = judge.score(CHATS, RESPONSES)  # 8 answers, chunks of 3: left padding
        [gen] = judge.scorer([judge.judge_input("sing a song", "good song", "Is it good ?")])
        flat = [(c[-1]["content"], rs, fs) for c, rs, fs in zip(CHATS, RESPONSES, out, strict=True)]
        rows = [(q, r, f) for q, rs, fs in flat for r, f in zip(rs, fs, strict=True)]
        hand = [[_by_hand(judge, model, q, r, t) for t in judge.unit_tests] for q, r, _ in rows]
    finally:
        handle.remove()
    words = [judge.token_string(i) for i in gen.ids]
    assert words[:4] == ['{"', "score", '":', " "] and words[4] in DIGITS and words[5:] == ["}", "<|endoftext|>"]
    assert len(gen.top_ids[4]) == 20 and gen.top_logprobs[4] == sorted(gen.top_logprobs[4], reverse=True)
    for (_, _, fields), want in zip(rows, hand, strict=True):
        assert sorted(fields) == ["failures", "score", "test_1", "test_2"] and fields["failures"] == 0
        assert [fields["test_1"], fields["test_2"]] == pytest.approx(want, abs=1e-5)
        assert fields["score"] == pytest.approx(sum(want) / 2, abs=1e-5)
    assert len({round(f["score"], 4) for _, _, f in rows}) == len(rows)  # the digits' probabilities are the model's


def test_lmunit_answer_without_a_score_is_null_and_counted(hooked):
    judge, model = hooked
    handle = script_hook(model, judge.tokenizer, NO_SCORE_SCRIPT)
    try:
        records = judge_records(
            [{"prompt": "sing a song", "responses": ["good song", "bad rain", ""], "best_index": 1}], judge
        )
    finally:
        handle.remove()
    assert records[0]["judge_all"] == [{"score": None, "test_1": None, "test_2": None, "failures": 2}] * 3
    summary = judge_summary(records)
    assert summary == {"judge": "lmunit", "judge_failures": 6}  # no score mean of nulls, no judge_failures_mean


def test_lmunit_tiny_judge_answers_in_its_weights(lmunit):
    """``tiny_models.save_causal_lm`` writes the LMUnit answer into the weights (what the contract and the
    CLI tests load; the contract checks batch and order invariance): digits 1..5 chosen by the model."""
    batched = sum(lmunit.score(CHATS, RESPONSES), [])  # 20 inputs of different lengths: left padding in chunks of 4
    keys = ["score"] + [f"test_{i}" for i in range(1, 6)]
    for f in batched:
        assert sorted(f) == sorted(keys + ["failures"]) and f["failures"] == 0
        assert all(1.0 <= f[k] <= 5.0 for k in keys)
    assert len({f["score"] for f in batched}) == 4  # responses score differently
    [gen] = lmunit.scorer([lmunit.judge_input("sing a song", "good song", DEFAULT_UNIT_TESTS[0])])
    words = [lmunit.token_string(i) for i in gen.ids]
    assert words[:4] == ['{"', "score", '":', " "] and words[4] in "12345" and words[5:] == ["}", "<|endoftext|>"]


def test_lmunit_configured_tests_and_errors(ckpt, lmunit, tmp_path):
    two = LMUnitJudge(lmunit.tokenizer, lmunit.scorer, unit_tests=["Is it good ?", "Is it bad ?"])
    [[f]] = two.score([CHATS[0]], [[RESPONSES[0][0]]])
    assert sorted(f) == ["failures", "score", "test_1", "test_2"]
    assert f["score"] == pytest.approx((f["test_1"] + f["test_2"]) / 2, abs=1e-5)
    with pytest.raises(ValueError, match="judge.unit_tests"):
        LMUnitJudge(lmunit.tokenizer, lmunit.scorer, unit_tests=[])
    with pytest.raises(ValueError, match=r"judge.template must contain \{response\}"):
        LMUnitJudge(lmunit.tokenizer, lmunit.scorer, template="Query: {query} Unit Test: {unit_test}")
    with pytest.raises(ValueError, match="judge.backend"):
        LMUnitJudge.from_pretrained(str(ckpt["lm"]), device="cpu", backend="tgi")
    for key in ("max_new_tokens", "top_logprobs"):
        with pytest.raises(ValueError, match=f"judge.{key}"):
            LMUnitJudge.from_pretrained(str(ckpt["lm"]), device="cpu", **{key: 0})
    no_six = tiny_models.save_causal_lm(tmp_path / "no6", tokenizer=tiny_models.causal_lm_tokenizer(list("012345")))
    with pytest.raises(ValueError, match=f"judge.path={re.escape(str(no_six))} has no single token for the score '6'"):
        LMUnitJudge.from_pretrained(str(no_six), dtype="float32", device="cpu")


def test_lmunit_vllm_backend_needs_vllm(ckpt):
    if "vllm" in sys.modules or __import__("importlib").util.find_spec("vllm"):
        pytest.skip("vllm is installed here")
    with pytest.raises(ValueError, match="pip install vllm"):
        LMUnitJudge.from_pretrained(str(ckpt["lm"]), device="cpu", backend="vllm")


def test_vllm_scorer_reads_the_answers_and_their_logprobs(monkeypatch, lmunit):
    """The vLLM path with a stand-in ``vllm`` module (real vLLM is not run in the tests): the authors'
    sampling parameters, each position's logprob dict in rank order (the sampled token first in vLLM's
    dict), then the same reading as the transformers path."""
    tok = lmunit.tokenizer
    v = tok.convert_tokens_to_ids
    lp = lambda p, rank: SimpleNamespace(logprob=L(p), rank=rank, decoded_token="ignored")  # noqa: E731
    answer = [v(t) for t in QWEN_ANSWER]
    logprobs = [{i: lp(1.0, 1)} for i in answer]
    logprobs[4] = {v("4"): lp(0.6, 1), v("2"): lp(0.1, 3), v("3"): lp(0.3, 2)}
    outputs = [  # per judge input: one answer with a score, one without
        SimpleNamespace(outputs=[SimpleNamespace(token_ids=answer, logprobs=logprobs)]),
        SimpleNamespace(outputs=[SimpleNamespace(token_ids=answer[:3], logprobs=logprobs[:3])]),
    ]
    calls = {}

    class LLM:
        def __init__(self, **kwargs):
            calls["init"] = kwargs

        def generate(self, prompts, params, use_tqdm=False):
            calls["prompts"], calls["params"] = prompts, params
            return outputs

    monkeypatch.setitem(sys.modules, "vllm", SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw))
    scorer = VLLMScorer("some/judge", torch.bfloat16, tensor_parallel_size=4)
    assert calls["init"]["dtype"] == "bfloat16" and calls["init"]["tensor_parallel_size"] == 4
    gens = scorer([[1, 2], [3]])
    assert calls["params"] == {"temperature": 0.0, "max_tokens": 10, "logprobs": 20}
    assert calls["prompts"][1] == {"prompt_token_ids": [3]}
    assert gens[0].ids == answer and gens[0].top_ids[4] == [v("4"), v("3"), v("2")]
    judge = LMUnitJudge(tok, scorer, unit_tests=["Is it good ?", "Does it run ?"])
    [[f]] = judge.score([CHATS[1]], [["good song"]])
    want = 4 * 0.6 + 3 * 0.3 + 2 * 0.1
    assert f == {"score": pytest.approx(want), "test_1": pytest.approx(want), "test_2": None, "failures": 1}


def test_lmunit_defaults_are_the_authors_protocol():
    with initialize_config_module(config_module="entrgi.conf", version_base="1.3"):
        cfg = compose("run", ["judge=lmunit"])
    assert list(cfg.judge.unit_tests) == list(DEFAULT_UNIT_TESTS) and cfg.judge.template == LMUNIT_TEMPLATE
    assert cfg.judge.max_new_tokens == MAX_NEW_TOKENS == 10 and cfg.judge.top_logprobs == TOP_LOGPROBS == 20
    assert DEFAULT_UNIT_TESTS == (  # main_expts/lmunit_eval.py of the EntRGi authors, word for word
        "Does the response directly and effectively address the user's request?",
        "Is the information in the response correct and reliable?",
        "Is the response well-structured, clear, and fluent?",
        "Does the response appropriately address the full scope of the question?",
        "Is the response free from harmful, biased, or inappropriate content?",
    )
    assert DIGITS == ("0", "1", "2", "3", "4", "5", "6")


# ----------------------------------------------------------------- records
def _records() -> list[dict]:
    return [
        {
            "sample_id": "a",
            "prompt": "p1",
            "responses": ["one two", "one", "one two three"],
            "rewards": [0.5, 0.1, 0.9],
            "best_index": 2,
            "top1_reward": 0.9,
            "trace": {"x": [1.0]},
        },
        {
            "sample_id": "b",
            "prompt": "p2",
            "system": "s",
            "responses": ["x y", "z"],
            "rewards": [2.0, 1.0],
            "best_index": 0,
            "top1_reward": 2.0,
        },
    ]


def test_judge_records_sets_judge_fields_and_nothing_else():
    records = _records()
    before = copy.deepcopy(records)
    assert judge_records(records, LengthJudge()) is records
    assert [r["judge_all"] for r in records] == [
        [{"score": 2.0, "system": False}, {"score": 1.0, "system": False}, {"score": 3.0, "system": False}],
        [{"score": 2.0, "system": True}, {"score": 1.0, "system": True}],
    ]
    assert [r["judge"]["score"] for r in records] == [3.0, 2.0]  # the Top@1 (best_index) response
    assert {r["judge_name"] for r in records} == {"length"}
    assert [r["judges"] for r in records] == [{"length": {"top1": r["judge"], "all": r["judge_all"]}} for r in records]
    for rec, old in zip(records, before, strict=True):
        assert {k: v for k, v in rec.items() if k not in ("judge", "judge_all", "judge_name", "judges")} == old
    assert record_messages(records[1]) == [{"role": "system", "content": "s"}, {"role": "user", "content": "p2"}]
    assert record_messages(records[0]) == [{"role": "user", "content": "p1"}]


def test_judge_records_rejects_a_judge_returning_the_wrong_count():
    class Short(LengthJudge):
        def score(self, messages, responses):
            return [fs[:-1] for fs in super().score(messages, responses)]

    with pytest.raises(RuntimeError, match="returned 2 results for the 3 responses of sample 'a'"):
        judge_records(_records(), Short())


def test_judge_summary_means_over_top1_and_all_responses():
    nan = float("nan")
    records = [
        {
            "judge_name": "j",
            "judge": {"score": 2.0, "ok": True, "note": "x"},
            "judge_all": [{"score": 2.0}, {"score": 4.0}],
        },
        {"judge_name": "j", "judge": {"score": None, "ok": False}, "judge_all": [{"score": None}, {"score": 1.0}]},
        {
            "judge_name": "j",
            "judge": {"score": 5.0, "ok": True, "bad": nan},
            "judge_all": [{"score": 5.0}, {"score": nan}],
        },
        {"sample_id": "not judged"},
    ]
    out = judge_summary(records)
    assert out == pytest.approx(
        {
            "judge": "j",
            "judge_score_mean": (2.0 + 5.0) / 2,
            "judge_ok_mean": 2 / 3,
            "judge_score_avgN_mean": (3.0 + 1.0 + 5.0) / 3,
        }
    )
    assert judge_summary([{"sample_id": "x"}]) == {}
    assert "judge_failures" not in out  # no judge reported failures


def test_judge_summary_sums_failures_over_all_responses_and_has_no_failures_mean():
    records = [
        {
            "judge_name": "lmunit",
            "judge": {"score": 3.0, "test_1": 3.0, "test_2": None, "failures": 1},
            "judge_all": [
                {"score": 3.0, "test_1": 3.0, "test_2": None, "failures": 1},
                {"score": None, "test_1": None, "test_2": None, "failures": 2},
            ],
        },
        {  # best_index null: no Top@1 fields, but its K responses were judged
            "judge_name": "lmunit",
            "judge": None,
            "judge_all": [{"score": 4.0, "test_1": 4.0, "test_2": 4.0, "failures": 0}] * 2
            + [{"score": None, "test_1": None, "test_2": None, "failures": 2}],
        },
        {
            "judge_name": "lmunit",
            "judge": {"score": 5.0, "test_1": 5.0, "test_2": 5.0, "failures": 0},
            "judge_all": [{"score": 5.0, "test_1": 5.0, "test_2": 5.0, "failures": 0}],
        },
    ]
    out = judge_summary(records)
    assert out == pytest.approx(
        {
            "judge": "lmunit",
            "judge_score_mean": 4.0,
            "judge_test_1_mean": 4.0,
            "judge_test_2_mean": 5.0,
            "judge_score_avgN_mean": (3.0 + 5.0) / 2,
            "judge_failures": 1 + 2 + 2,
        }
    )
    assert isinstance(out["judge_failures"], int)
