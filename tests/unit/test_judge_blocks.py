"""Judgements accumulate: one block per judge name in records and metrics.json, the report and W&B show
every judge, and the guidance reward model is refused as a judge unless ``judge.allow_guidance_reward``."""

from __future__ import annotations

import copy
import os

import pytest
from fakes import LengthJudge
from report_runs import write_run
from wandb_fakes import FakeRun

from entrgi import report
from entrgi.judges import judge_records, judges_summary, record_judges
from entrgi.judges.held_out import check_held_out_judge, same_model
from entrgi.outputs.generations import read_generations
from entrgi.outputs.identity import judge_identity, run_identity
from entrgi.outputs.metrics import judge_blocks, read_metrics, with_judge
from entrgi.outputs.records import prompt_means
from entrgi.pipeline.callbacks import wandb_logging as wl
from entrgi.pipeline.rejudge import judge_run


class Grader(LengthJudge):
    """A second judge: ``score`` the response's length in characters, ``short`` whether it has under 4."""

    name = "grader"

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def score(self, messages, responses):
        return [[{"score": self.scale * len(r), "short": len(r) < 4} for r in rs] for rs in responses]


def _records() -> list[dict]:
    return [
        {"sample_id": "a", "prompt": "p1", "responses": ["x", "x y z", "x y"], "best_index": 1},
        {"sample_id": "b", "prompt": "p2", "responses": ["u v", "w"], "best_index": None},  # no finite reward
    ]


# ------------------------------------------------------------------ records
def test_judging_again_adds_a_block_and_keeps_the_other_judges():
    records = judge_records(_records(), Grader(), identity="Grader:g1")
    first = copy.deepcopy([r["judges"] for r in records])
    judge_records(records, LengthJudge())
    for rec, before in zip(records, first, strict=True):
        assert list(rec["judges"]) == ["grader", "length"]
        assert rec["judges"]["grader"] == before["grader"]  # untouched by the second judge
        assert rec["judges"]["length"] == {"top1": rec["judge"], "all": rec["judge_all"]}  # no identity known
        assert rec["judge_name"] == "length"  # the flat fields: the latest judge
    assert records[0]["judges"]["grader"] == {
        "top1": {"score": 5.0, "short": False},
        "all": [{"score": 1.0, "short": True}, {"score": 5.0, "short": False}, {"score": 3.0, "short": True}],
        "identity": "Grader:g1",
    }
    assert records[1]["judges"]["grader"]["top1"] is None and len(records[1]["judges"]["grader"]["all"]) == 2


def test_the_same_judge_twice_replaces_only_its_own_block():
    records = judge_records(judge_records(_records(), Grader()), LengthJudge())
    length = copy.deepcopy([r["judges"]["length"] for r in records])
    judge_records(records, Grader(scale=10.0))
    for rec, kept in zip(records, length, strict=True):
        assert list(rec["judges"]) == ["grader", "length"]  # replaced in place, not added
        assert rec["judges"]["length"] == kept
        assert rec["judges"]["grader"]["all"] == rec["judge_all"] and rec["judge_name"] == "grader"
    assert records[0]["judges"]["grader"]["top1"]["score"] == 50.0


def test_an_old_flat_judgement_becomes_its_own_block():
    old = {"judge": {"score": 0.5, "grammatical": 1.0}, "judge_all": [{"score": 0.5, "grammatical": 1.0}] * 3}
    records = [_records()[0] | old | {"judge_name": "oracle"}]
    assert record_judges(records[0]) == {"oracle": {"top1": old["judge"], "all": old["judge_all"]}}
    judge_records(records, LengthJudge())
    assert records[0]["judges"]["oracle"] == {"top1": old["judge"], "all": old["judge_all"]}
    assert records[0]["judge"] == {"score": 3.0, "system": False}


def test_prompt_means_summarize_every_judge():
    records = judge_records(judge_records(_records(), Grader(), identity="Grader:g1"), LengthJudge())
    records[0]["top1_reward"] = 1.0
    means = prompt_means(records)
    assert means["judge"] == "length" and means["judge_score_mean"] == 3.0  # flat: the latest judge
    assert means["judges"] == judges_summary(records)
    assert means["judges"] == {
        "grader": {"identity": "Grader:g1", "score_mean": 5.0, "short_mean": 0.0, "score_avgN_mean": 3.0},
        "length": {"score_mean": 3.0, "system_mean": 0.0, "score_avgN_mean": 2.0},
    }
    assert "judges" not in prompt_means([{"sample_id": "x", "top1_reward": 1.0}])  # judge=none: no blocks


# ------------------------------------------------------------------ metrics.json
OLD_METRICS = {  # written before the judges blocks: one flat judgement
    "num_prompts": 2,
    "judge": "oracle",
    "judge_score_mean": 0.5,
    "judge_grammatical_mean": 1.0,
    "judge_score_avgN_mean": 0.25,
    "run": {"method": "entrgi", "judge": "oracle", "seed": 1},
    "seed": 1,
}


def test_metrics_keep_a_block_per_judge_and_replace_only_the_rejudged_one():
    assert judge_blocks(OLD_METRICS) == {
        "oracle": {"identity": "oracle", "score_mean": 0.5, "grammatical_mean": 1.0, "score_avgN_mean": 0.25}
    }
    rm = {"judge": "reward_model", "judge_score_mean": 2.0, "judge_score_avgN_mean": 1.0}
    once = with_judge(OLD_METRICS, rm, "RewardModelJudge:big")
    assert once["judges"] == judge_blocks(OLD_METRICS) | {
        "reward_model": {"identity": "RewardModelJudge:big", "score_mean": 2.0, "score_avgN_mean": 1.0}
    }
    assert {k: v for k, v in once.items() if k.startswith("judge_")} == {k: v for k, v in rm.items() if k != "judge"}
    assert once["judge"] == "reward_model" and once["run"]["judge"] == "RewardModelJudge:big"
    twice = with_judge(once, rm | {"judge_score_mean": 3.0}, "RewardModelJudge:bigger")
    assert list(twice["judges"]) == ["oracle", "reward_model"]
    assert twice["judges"]["oracle"] == once["judges"]["oracle"]
    assert twice["judges"]["reward_model"] == {
        "identity": "RewardModelJudge:bigger",
        "score_mean": 3.0,
        "score_avgN_mean": 1.0,
    }


# ------------------------------------------------------------------ report and W&B
def test_the_report_shows_a_column_per_judge_after_rescoring(tmp_path):
    run = write_run(tmp_path / "run", "entrgi", 1, [1.0, 2.0])  # judged by the oracle, flat (older layout)
    judge_run(run, LengthJudge())
    records, metrics = read_generations(run), read_metrics(run)
    assert all(r["judges"]["oracle"] == {"top1": {"score": r["top1_reward"] / 10, "grammatical": 1.0}} for r in records)
    assert list(metrics["judges"]) == ["oracle", "length"] and metrics["judges"]["oracle"]["grammatical_mean"] == 1.0
    rep = report.load(tmp_path)
    assert {"judges.oracle.score_mean", "judges.oracle.grammatical_mean", "judges.length.score_mean"} <= set(
        rep.columns
    )
    (row,) = rep.rows
    assert row["judges.oracle.score_mean"] == pytest.approx(0.15) and row["judges.length.score_mean"] == 3.0
    head = rep.table().splitlines()[0]
    assert "| Top@1 | judge[oracle] | judge[length] | vs BoN" in head  # each judge's score a column
    assert "judge[oracle] grammatical is 1.000" not in rep.markdown()  # one group: nothing to call constant
    assert "| entrgi | judge[oracle] grammatical | 1.000 |" in rep.markdown()  # the sub-scores' long table
    assert "judges.length.score_mean" in rep.csv().splitlines()[0]


def test_wandb_logs_every_judge_per_prompt_and_in_the_generations_table():
    records = judge_records(judge_records(_records(), Grader()), LengthJudge())
    for r in records:
        r["rewards"] = [0.0] * len(r["responses"])
    rows = wl.prompt_rows(records)
    assert rows[0]["prompt/judges/grader/score"] == 5.0 and rows[0]["prompt/judges/length/score"] == 3.0
    assert rows[0]["prompt/judges/grader/short"] == 0.0 and rows[0][wl.PROMPT_JUDGE_SCORE] == 3.0  # latest
    assert not any(k.startswith("prompt/judges/") for k in rows[1])  # no Top@1 response
    run = FakeRun()
    wl.log_run(run, records, {"judges": {"grader": {"score_mean": 5.0}}})
    table = run.logged[-1][wl.GENERATIONS_TABLE]
    assert table.columns[-2:] == ["judge[grader]", "judge[length]"]
    assert [row[-2:] for row in table.data[:3]] == [[1, 1.0], [5, 3.0], [3, 2.0]]
    assert run.summary == {"judges/grader/score_mean": 5.0}
    assert run.metrics["prompt/judges/length/score"] == wl.PROMPT_INDEX


# ------------------------------------------------------------------ the guidance reward as a judge
def test_same_model_is_the_same_string_or_the_same_local_folder(tmp_path, monkeypatch):
    folder = tmp_path / "rm"
    folder.mkdir()
    os.symlink(folder, tmp_path / "link")
    monkeypatch.chdir(tmp_path)
    assert same_model("Skywork/Skywork-Reward-V2-Qwen3-4B", " Skywork/Skywork-Reward-V2-Qwen3-4B/")
    assert same_model(str(folder), "rm") and same_model("./rm/", str(tmp_path / "link"))
    assert same_model(str(folder), f"{tmp_path}/rm/../rm")
    assert not same_model("Skywork/Skywork-Reward-V2-Qwen3-4B", "Skywork/Skywork-Reward-V2-Qwen3-1.7B")
    assert not same_model(str(folder), str(tmp_path)) and not same_model(None, None) and not same_model("", "")


def test_the_guidance_reward_is_refused_as_judge_unless_allowed():
    judge = {"_target_": "entrgi.judges.RewardModelJudge.from_pretrained", "path": "org/rm-4b/"}
    reward = {"_target_": "x", "path": "org/rm-4b"}
    with pytest.raises(ValueError) as err:
        check_held_out_judge(judge, reward, where="runs/a: ")
    message = str(err.value)
    assert message.startswith("runs/a: judge.path=org/rm-4b/ is the guidance reward model (reward.path=org/rm-4b)")
    assert "judge.allow_guidance_reward=true" in message and "reward hacking" in message
    check_held_out_judge(judge | {"allow_guidance_reward": True}, reward)  # asked for: accepted
    check_held_out_judge(judge | {"path": "org/rm-8b"}, reward)  # another model
    check_held_out_judge({"_target_": "entrgi.judges.OracleJudge"}, reward)  # no path
    check_held_out_judge({}, reward)  # judge=none
    check_held_out_judge(judge, {"_target_": "entrgi.testbed.load_reward", "path": None})
    with pytest.raises(ValueError, match="judge.allow_guidance_reward must be true or false"):
        check_held_out_judge(judge | {"allow_guidance_reward": "yes"}, reward)
    # the key is no part of the run identity
    allowed = judge | {"allow_guidance_reward": True}
    assert judge_identity(allowed) == judge_identity(judge) == "RewardModelJudge:org/rm-4b/"
    cfg = {"guidance": {"_target_": "g"}, "data": {"source": {"_target_": "TestbedPromptSource"}}, "seed": 1}
    assert run_identity(cfg | {"judge": allowed}, "bon") == run_identity(cfg | {"judge": judge}, "bon")


def test_rejudging_with_a_second_checkpoint_of_one_judge_keeps_both_blocks_and_columns(tmp_path):
    run = write_run(tmp_path / "run", "entrgi", 1, [1.0, 2.0])
    small, big = Grader(), Grader(scale=10.0)
    small.identity, big.identity = "RewardModelJudge:Skywork/Skywork-4B", "RewardModelJudge:Skywork/Skywork-8B"
    small.name = big.name = "reward_model"
    judge_run(run, small)
    judge_run(run, big)
    judge_run(run, small)  # the 4B again: replaces its own block, adds none
    records, metrics = read_generations(run), read_metrics(run)
    for rec in records:
        assert list(rec["judges"]) == ["oracle", "reward_model", "reward_model[Skywork-8B]"]
        assert rec["judges"]["reward_model"]["identity"] == small.identity
        assert rec["judges"]["reward_model[Skywork-8B]"]["identity"] == big.identity
        assert rec["judge_name"] == "reward_model"
    blocks = metrics["judges"]
    assert blocks["reward_model[Skywork-8B]"]["score_mean"] == 10 * blocks["reward_model"]["score_mean"]
    head = report.load(tmp_path).table().splitlines()[0]
    assert "| judge[oracle] | judge[reward_model] | judge[reward_model[Skywork-8B]] |" in head


def test_unit_tests_other_than_the_papers_change_the_judge_identity():
    lmunit = {"_target_": "entrgi.judges.LMUnitJudge.from_pretrained", "path": "ContextualAI/LMUnit-qwen2.5-72b"}
    assert judge_identity(lmunit) == "LMUnitJudge:ContextualAI/LMUnit-qwen2.5-72b"
    from entrgi.judges.lmunit import DEFAULT_UNIT_TESTS

    assert judge_identity(lmunit | {"unit_tests": list(DEFAULT_UNIT_TESTS)}) == judge_identity(lmunit)
    other = judge_identity(lmunit | {"unit_tests": ["Is it short?"]})
    assert other.startswith("LMUnitJudge:ContextualAI/LMUnit-qwen2.5-72b+unit_tests:") and len(other) > 50


def test_unscored_checks_reach_the_report_and_the_console(tmp_path):
    from entrgi.pipeline.console import _judge_lines

    run = write_run(tmp_path / "run", "entrgi", 1, [1.0, 2.0])
    metrics = read_metrics(run)
    metrics["judges"] = {"lmunit": {"score_mean": 3.0, "failures": 4}}
    (run / "metrics.json").write_text(__import__("json").dumps(metrics | {"judge_failures": 4}))
    assert "judge[lmunit] left 4 checks unscored (`judge_failures`" in report.load(tmp_path).markdown()
    assert "4 checks unscored (judge_failures)" in _judge_lines(metrics | {"judge_failures": 4})[0]
