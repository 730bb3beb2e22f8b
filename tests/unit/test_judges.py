"""Held-out judges: the oracle, a reward model and LMUnit on tiny checkpoints; records and summaries."""

from __future__ import annotations

import copy
import math
import random
import sys
from types import SimpleNamespace

import pytest
import tiny_models
import torch
from fakes import LengthJudge
from hydra import compose, initialize_config_module
from transformers import AutoModelForCausalLM, AutoTokenizer

from entrgi.judges import (
    LMUnitJudge,
    OracleJudge,
    RewardModelJudge,
    judge_records,
    judge_summary,
    record_messages,
)
from entrgi.judges.lmunit import DEFAULT_UNIT_TESTS, LMUNIT_TEMPLATE, VLLMScorer, expected_score
from entrgi.models.reward import SequenceClassifierReward
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
        "lm": tiny_models.save_causal_lm(root / "lm"),
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


# ----------------------------------------------------------------- LMUnit
def test_expected_score_on_known_distributions():
    inf = math.inf
    logits = torch.tensor([[0.0] * 5, [-inf, -inf, -inf, -inf, 0.0], [math.log(3), -inf, math.log(1), -inf, -inf]])
    assert expected_score(logits).tolist() == pytest.approx([3.0, 5.0, (3 * 1 + 1 * 3) / 4])
    assert math.isnan(expected_score(torch.full((1, 5), -inf)).item())


def test_lmunit_equals_a_hand_computation_from_the_logits(ckpt, lmunit):
    query, response = CHATS[1][-1]["content"], RESPONSES[1][0]
    [[fields]] = lmunit.score([CHATS[1]], [[response]])
    tok = AutoTokenizer.from_pretrained(ckpt["lm"])
    model = AutoModelForCausalLM.from_pretrained(ckpt["lm"], dtype=torch.float32)
    digits = tok.convert_tokens_to_ids(["1", "2", "3", "4", "5"])
    for i, test in enumerate(DEFAULT_UNIT_TESTS):
        content = f"Query: {query}\n\nResponse: {response}\n\nUnit Test: {test}"
        text = tok.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )
        ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            p = torch.softmax(model(ids).logits[0, -1].double(), -1)[digits]
        hand = sum((s + 1) * p[s].item() for s in range(5)) / p.sum().item()
        assert fields[f"test_{i + 1}"] == pytest.approx(hand, abs=1e-5)
    tests = [fields[f"test_{i}"] for i in range(1, 6)]
    assert fields["score"] == pytest.approx(sum(tests) / 5, abs=1e-5)
    assert max(tests) - min(tests) > 1e-3  # the tests see different inputs


def test_lmunit_batched_equals_one_by_one(ckpt, lmunit):
    batched = lmunit.score(CHATS, RESPONSES)  # 20 inputs of different lengths: left padding in chunks of 4
    single = LMUnitJudge.from_pretrained(str(ckpt["lm"]), dtype="float32", device="cpu", batch_size=1)
    one_by_one = [[single.score([c], [[r]])[0][0] for r in rs] for c, rs in zip(CHATS, RESPONSES, strict=True)]
    keys = ["score"] + [f"test_{i}" for i in range(1, 6)]
    for fb, fs in zip(sum(batched, []), sum(one_by_one, []), strict=True):
        assert sorted(fb) == sorted(keys)
        assert [fb[k] for k in keys] == pytest.approx([fs[k] for k in keys], abs=1e-5)
        assert all(1.0 <= fb[k] <= 5.0 for k in keys)
    assert len({f["score"] for f in sum(batched, [])}) == 4  # responses score differently


def test_lmunit_configured_tests_and_errors(ckpt, lmunit, tmp_path):
    two = LMUnitJudge(lmunit.tokenizer, lmunit.scorer, unit_tests=["Is it good ?", "Is it bad ?"])
    [[f]] = two.score([CHATS[0]], [[RESPONSES[0][0]]])
    assert sorted(f) == ["score", "test_1", "test_2"]
    assert f["score"] == pytest.approx((f["test_1"] + f["test_2"]) / 2, abs=1e-5)
    with pytest.raises(ValueError, match="judge.unit_tests"):
        LMUnitJudge(lmunit.tokenizer, lmunit.scorer, unit_tests=[])
    with pytest.raises(ValueError, match=r"judge.template must contain \{response\}"):
        LMUnitJudge(lmunit.tokenizer, lmunit.scorer, template="Query: {query} Unit Test: {unit_test}")
    with pytest.raises(ValueError, match="judge.backend"):
        LMUnitJudge.from_pretrained(str(ckpt["lm"]), device="cpu", backend="tgi")
    four_digits = tiny_models.causal_lm_tokenizer(["1", "2", "3", "4"])
    no_five = tiny_models.save_causal_lm(tmp_path / "no5", tokenizer=four_digits)
    with pytest.raises(ValueError, match="no single token for the score '5'"):
        LMUnitJudge.from_pretrained(str(no_five), dtype="float32", device="cpu")


def test_lmunit_vllm_backend_needs_vllm(ckpt):
    if "vllm" in sys.modules or __import__("importlib").util.find_spec("vllm"):
        pytest.skip("vllm is installed here")
    with pytest.raises(ValueError, match="pip install vllm"):
        LMUnitJudge.from_pretrained(str(ckpt["lm"]), device="cpu", backend="vllm")


def test_vllm_scorer_reads_the_score_tokens_logprobs(monkeypatch):
    """The vLLM path's arithmetic with a stand-in ``vllm`` module (real vLLM is not run in the tests)."""
    top = [
        {
            7: SimpleNamespace(logprob=math.log(0.5)),
            11: SimpleNamespace(logprob=math.log(0.25)),
            99: SimpleNamespace(logprob=math.log(0.25)),
        },
        {99: SimpleNamespace(logprob=0.0)},
    ]
    calls = {}

    class LLM:
        def __init__(self, **kwargs):
            calls["init"] = kwargs

        def generate(self, prompts, params, use_tqdm=False):
            calls["prompts"], calls["params"] = prompts, params
            return [SimpleNamespace(outputs=[SimpleNamespace(logprobs=[t])]) for t in top]

    monkeypatch.setitem(sys.modules, "vllm", SimpleNamespace(LLM=LLM, SamplingParams=lambda **kw: kw))
    scorer = VLLMScorer("some/judge", torch.bfloat16, tensor_parallel_size=4)
    got = scorer([[1, 2], [3]], [7, 8, 9, 10, 11])
    assert got[0] == pytest.approx((1 * 0.5 + 5 * 0.25) / 0.75) and math.isnan(got[1])
    assert calls["init"]["dtype"] == "bfloat16" and calls["init"]["tensor_parallel_size"] == 4
    assert calls["params"]["max_tokens"] == 1 and calls["prompts"][1] == {"prompt_token_ids": [3]}


def test_lmunit_yaml_matches_the_module_defaults():
    with initialize_config_module(config_module="entrgi.conf", version_base="1.3"):
        cfg = compose("run", ["judge=lmunit"])
    assert list(cfg.judge.unit_tests) == list(DEFAULT_UNIT_TESTS) and cfg.judge.template == LMUNIT_TEMPLATE


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
    for rec, old in zip(records, before, strict=True):
        assert {k: v for k, v in rec.items() if k not in ("judge", "judge_all", "judge_name")} == old
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
