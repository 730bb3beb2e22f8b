"""The Judge contract (entrgi.judges.base), run by every judge in the project.

A judge joins with ONE entry in ``JUDGES``: its label -> a function that builds it from a scratch
folder (for its tiny checkpoint; each judge is built once per module). The fakes of ``tests/fakes.py``
that the other tests judge with are in it too, so they honour the contract they stand in for.

What every judge promises (``Judge.score`` and ``check_batch``):

- ``name`` is a non-empty string;
- ``score(messages, responses)`` returns, per prompt, per response, a dict of JSON-ready fields with a
  finite float ``score`` (higher is better); every row has the same fields; the shape follows the
  responses (K may differ between prompts; no prompt, or a prompt with no responses, is fine);
- a response's fields depend on its chat and its text only: the same scored together or one at a
  time, twice, or with the responses and prompts permuted (within a float tolerance);
- an empty response gets a score like any other;
- a batch with one chat per prompt but not one list of responses per prompt is a ``ValueError``;
- scoring builds no autograd graph (judges are frozen) and leaves the grad mode as it found it.

The chats are testbed prompts (the oracle scores only those); the responses are ragged, one empty.
(Named ``test_judge.py``: ``tests/unit/test_judges.py`` owns the module name ``test_judges``.)
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import tiny_models
import torch
from fakes import HashJudge, LengthJudge
from torch.overrides import TorchFunctionMode

from entrgi.judges import Judge, LMUnitJudge, OracleJudge, RewardModelJudge
from entrgi.testbed.language import default_grammar

JUDGES: dict[str, Callable[[Path], Judge]] = {
    "oracle": lambda root: OracleJudge(),
    "reward_model": lambda root: RewardModelJudge.from_pretrained(
        str(tiny_models.save_reward(root / "reward", seed=1)), dtype="float32", device="cpu", batch_size=2
    ),
    "lmunit": lambda root: LMUnitJudge.from_pretrained(
        str(tiny_models.save_causal_lm(root / "lm")),
        dtype="float32",
        device="cpu",
        batch_size=3,  # chunks of 3: left padding within a chunk
        backend="transformers",
    ),
    "fake_hash": lambda root: HashJudge(),  # tests/fakes.py
    "fake_length": lambda root: LengthJudge(),  # tests/fakes.py
}
TOLERANCE = 1e-5  # fp32 forwards of different batch shapes


def _inputs() -> tuple[list[list[dict[str, str]]], list[list[str]]]:
    grammar, rng = default_grammar(), random.Random(7)
    p, q = grammar.sample_prompt(rng), grammar.sample_prompt(rng)
    chats = [
        [{"role": "user", "content": p.text}],
        [{"role": "system", "content": "be kind"}, {"role": "user", "content": q.text}],
    ]
    responses = [
        [grammar.sample_response(p, rng), "cat cat cat", "", grammar.sample_response(p, rng)],
        [grammar.sample_response(q, rng)],
    ]
    return chats, responses


CHATS, RESPONSES = _inputs()


@pytest.fixture(scope="module", params=sorted(JUDGES))
def judge(request, tmp_path_factory) -> Judge:
    return JUDGES[request.param](tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def scored(judge) -> list[list[dict]]:
    return judge.score(CHATS, RESPONSES)


def assert_same_fields(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, abs=TOLERANCE, rel=TOLERANCE), key
        else:
            assert got[key] == value, key


def test_is_a_judge_with_a_name(judge):
    assert isinstance(judge, Judge)
    assert isinstance(judge.name, str) and judge.name.strip() == judge.name and judge.name


def test_fields_per_prompt_per_response_with_a_finite_score(scored):
    assert [len(fields) for fields in scored] == [len(rs) for rs in RESPONSES]
    rows = [f for fields in scored for f in fields]
    assert all(isinstance(f, dict) and all(isinstance(k, str) for k in f) for f in rows)
    assert len({tuple(sorted(f)) for f in rows}) == 1, "every row must have the same fields"
    for f in rows:
        score = f["score"]
        assert isinstance(score, float) and math.isfinite(score), f
    json.dumps(scored, allow_nan=False)  # JSON-ready: no tensors, no NaN
    assert len({f["score"] for f in scored[0]}) > 1  # the judge tells responses apart: the checks below can fail


def test_scoring_together_equals_one_at_a_time_and_again(judge, scored):
    for chat, rs, fields in zip(CHATS, RESPONSES, scored, strict=True):
        for response, want in zip(rs, fields, strict=True):
            [[got]] = judge.score([chat], [[response]])
            assert_same_fields(got, want)
    for got, want in zip(judge.score(CHATS, RESPONSES), scored, strict=True):
        for g, w in zip(got, want, strict=True):
            assert_same_fields(g, w)


def test_permuting_responses_and_prompts_permutes_the_fields(judge, scored):
    order = [2, 0, 3, 1]
    got = judge.score(CHATS[::-1], [RESPONSES[1], [RESPONSES[0][i] for i in order]])
    assert len(got) == 2 and len(got[0]) == 1
    assert_same_fields(got[0][0], scored[1][0])
    for g, i in zip(got[1], order, strict=True):
        assert_same_fields(g, scored[0][i])


def test_empty_batches_and_an_empty_response(judge, scored):
    assert judge.score([], []) == []
    assert judge.score([CHATS[0]], [[]]) == [[]]
    none, one = judge.score(CHATS, [[], RESPONSES[1]])
    assert none == [] and len(one) == 1
    assert_same_fields(one[0], scored[1][0])
    assert RESPONSES[0][2] == ""
    assert math.isfinite(scored[0][2]["score"])


def test_a_malformed_batch_is_a_value_error(judge):
    with pytest.raises(ValueError):
        judge.score(CHATS, RESPONSES[:1])
    with pytest.raises(ValueError):
        judge.score(CHATS[:1], ["a response, not a list of them"])


class GraphSpy(TorchFunctionMode):
    """Records every torch call whose result takes part in an autograd graph (requires grad)."""

    def __init__(self):
        super().__init__()
        self.tracked: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if any(isinstance(t, torch.Tensor) and t.requires_grad for t in outs):
            self.tracked.append(getattr(func, "__name__", str(func)))
        return out


@pytest.mark.parametrize("grad", [True, False])
def test_scoring_builds_no_graph_and_keeps_the_grad_mode(judge, grad):
    with torch.set_grad_enabled(grad), GraphSpy() as spy:
        judge.score(CHATS, RESPONSES)
        assert torch.is_grad_enabled() == grad
    assert spy.tracked == [], f"the judge computed with gradients ({spy.tracked[:5]}): freeze its model or use no_grad"
