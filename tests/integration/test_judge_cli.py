"""``python -m entrgi.judge``: re-judging a finished run (and a sweep folder) in place."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import tiny_models
import yaml
from cli_runs import read_run, run_cli
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from entrgi import report
from entrgi.engine.models.reward import SequenceClassifierReward
from entrgi.judge import main
from entrgi.judges import RewardModelJudge
from entrgi.judges.apply import record_messages
from entrgi.pipeline.phases import run
from entrgi.pipeline.preflight import check_config

JUDGE_KEYS = ("judge", "judge_all", "judge_name", "judges")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A smoke run on the testbed (judged by the oracle as it ran)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    run_cli(["+experiment=smoke", f"paths.output_dir={out}", "logger=none", "schedule.steps=4"], cwd=out.parent)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("judge_ckpt")
    return {
        "reward": tiny_models.save_reward(root / "reward", seed=1),
        "reward0": tiny_models.save_reward(root / "reward0", seed=0),
        "lm": tiny_models.save_causal_lm(root / "lm"),
    }


def sweep_copy(run: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A sweep folder holding a copy of the run as its job 0: (sweep folder, run folder)."""
    dst = tmp_path / "sweep" / "0"
    shutil.copytree(run, dst)
    return tmp_path / "sweep", dst


def without_judge(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in JUDGE_KEYS and not k.startswith("judge_")}


@pytest.mark.slow
def test_rejudge_a_sweep_with_a_reward_model(finished_run, tiny, tmp_path, capsys):
    sweep, run = sweep_copy(finished_run, tmp_path)
    old_records, old_metrics = read_run(run)
    assert old_metrics["judge"] == "oracle" and "judge_oracle_total_mean" in old_metrics
    assert (
        main(
            [
                str(sweep),
                "judge=reward_model",
                f"judge.path={tiny['reward']}",
                "judge.device=cpu",
                "judge.dtype=float32",
                "judge.batch_size=3",
            ]
        )
        == 0
    )
    records, metrics = read_run(run)
    assert f"{run}: 4 prompts judged by reward_model" in capsys.readouterr().out

    assert [without_judge(r) for r in records] == [without_judge(r) for r in old_records]  # responses, rewards, ...
    reward = SequenceClassifierReward.from_pretrained(str(tiny["reward"]), dtype="float32", device="cpu")
    for rec in records:
        truth = reward.score_text([record_messages(rec)] * len(rec["responses"]), rec["responses"]).tolist()
        assert [f["score"] for f in rec["judge_all"]] == pytest.approx(truth, abs=1e-5)
        assert set(rec["judge"]) == {"score"} and rec["judge"] == rec["judge_all"][rec["best_index"]]
        assert rec["judge_name"] == "reward_model"

    top1 = [r["judge"]["score"] for r in records]
    avg_n = [sum(f["score"] for f in r["judge_all"]) / len(r["judge_all"]) for r in records]
    assert metrics["judge"] == "reward_model"
    assert metrics["run"]["judge"].startswith("RewardModelJudge:") and old_metrics["run"]["judge"] == "oracle"
    assert metrics["judge_score_mean"] == pytest.approx(sum(top1) / len(top1))
    assert metrics["judge_score_avgN_mean"] == pytest.approx(sum(avg_n) / len(avg_n))
    assert not [k for k in metrics if k.startswith("judge_oracle") or k == "judge_grammatical_mean"]
    same_run = {"run": {k: v for k, v in old_metrics["run"].items() if k != "judge"}}
    assert without_judge(metrics | same_run) == without_judge(old_metrics | same_run)
    assert sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp")) == []


@pytest.mark.slow
def test_rejudge_with_the_oracle_reproduces_the_runs_own_judging(finished_run, tmp_path):
    sweep, run = sweep_copy(finished_run, tmp_path)
    old_records, old_metrics = read_run(run)
    stripped = [without_judge(r) for r in old_records]  # as if the run had judge=none
    (run / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stripped))
    main([str(run), "judge=oracle"])
    records, metrics = read_run(run)
    assert records == old_records
    judge_keys = {k: v for k, v in old_metrics.items() if k == "judge" or k.startswith("judge_")}
    assert len(judge_keys) >= 7 and {k: metrics[k] for k in judge_keys} == pytest.approx(judge_keys)


@pytest.mark.slow
def test_rejudge_with_lmunit_on_a_tiny_causal_lm(finished_run, tiny, tmp_path):
    _, run = sweep_copy(finished_run, tmp_path)
    main(
        [
            str(run),
            "judge=lmunit",
            f"judge.path={tiny['lm']}",
            "judge.device=cpu",
            "judge.dtype=float32",
            "judge.backend=transformers",
            "judge.unit_tests=[Is it good ?,Does it run ?]",
        ]
    )
    records, metrics = read_run(run)
    for rec in records:  # the tiny LM answers {"score": d} with d in 1..5 (tiny_models.save_causal_lm)
        assert all(sorted(f) == ["failures", "score", "test_1", "test_2"] for f in rec["judge_all"])
        assert all(f["failures"] == 0 and 1.0 <= f[k] <= 5.0 for f in rec["judge_all"] for k in f if k != "failures")
    assert metrics["judge"] == "lmunit"
    tests = [r["judge"]["test_2"] for r in records]
    assert metrics["judge_test_2_mean"] == pytest.approx(sum(tests) / len(tests))
    assert metrics["judge_failures"] == 0 and "judge_failures_mean" not in metrics


@pytest.mark.slow
def test_cli_errors_name_what_to_do(finished_run, tmp_path):
    _, run = sweep_copy(finished_run, tmp_path)
    before = (run / "generations.jsonl").read_text()
    cases = [
        ([str(run), "judge=oracle", "seed=3"], r"only judge overrides .*\['seed=3'\]"),
        ([str(run), "judge.path=x"], "name the judge: judge=oracle"),
        ([str(run), "judge=none"], "judge=none: nothing to score"),
        ([str(tmp_path / "empty"), "judge=oracle"], "is not a folder"),
        ([str(tmp_path / "sweep" / "0" / "shards"), "judge=oracle"], "no generations.jsonl under .*shards"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit, match=message):
            main(argv)
    assert (run / "generations.jsonl").read_text() == before  # nothing was rewritten


# ------------------------------------------------------------------ judgements accumulate
def reward_judge(path, *extra: str) -> list[str]:
    return ["judge=reward_model", f"judge.path={path}", "judge.device=cpu", "judge.dtype=float32", *extra]


@pytest.mark.slow
def test_a_second_judge_keeps_the_first_judges_fields(finished_run, tiny, tmp_path):
    """An oracle-judged run rescored by a reward model: both judges side by side in the records,
    metrics.json and the report."""
    _, run = sweep_copy(finished_run, tmp_path)
    old_records, old_metrics = read_run(run)
    assert all(list(r["judges"]) == ["oracle"] and r["judges"]["oracle"]["identity"] == "oracle" for r in old_records)
    assert main([str(run), *reward_judge(tiny["reward"])]) == 0
    records, metrics = read_run(run)
    for rec, old in zip(records, old_records, strict=True):
        assert list(rec["judges"]) == ["oracle", "reward_model"]
        assert rec["judges"]["oracle"] == old["judges"]["oracle"]  # grammatical, on_topic, ... survive
        assert {"grammatical", "on_topic", "sentiment", "repetition"} <= set(rec["judges"]["oracle"]["top1"])
        rm = rec["judges"]["reward_model"]
        assert rm == {"top1": rec["judge"], "all": rec["judge_all"], "identity": f"RewardModelJudge:{tiny['reward']}"}
    assert list(metrics["judges"]) == ["oracle", "reward_model"]
    assert metrics["judges"]["oracle"] == old_metrics["judges"]["oracle"]
    assert metrics["judges"]["oracle"]["grammatical_mean"] == old_metrics["judge_grammatical_mean"]
    assert metrics["judges"]["reward_model"]["score_mean"] == metrics["judge_score_mean"]
    rep = report.load(run)
    head = rep.table().splitlines()[0]
    assert "| judge[oracle] | judge[reward_model] |" in head  # each judge's score a column of the answer
    assert "| judge[oracle] grammatical |" in rep.markdown()  # the oracle's fields in the sub-scores' long table
    (row,) = rep.rows
    assert row["judges.oracle.grammatical_mean"] == pytest.approx(old_metrics["judge_grammatical_mean"])
    assert row["judges.reward_model.score_mean"] == pytest.approx(metrics["judge_score_mean"])


@pytest.mark.slow
def test_another_checkpoint_of_a_judge_adds_a_block_and_the_same_one_replaces_its_own(finished_run, tiny, tmp_path):
    _, run = sweep_copy(finished_run, tmp_path)
    main([str(run), *reward_judge(tiny["reward"])])
    first, first_metrics = read_run(run)
    main([str(run), *reward_judge(tiny["reward0"])])  # another checkpoint of reward_model: kept apart
    main([str(run), *reward_judge(tiny["reward"])])  # the first checkpoint again: replaces its own block
    records, metrics = read_run(run)
    second = f"reward_model[{Path(tiny['reward0']).name}]"
    for rec, old in zip(records, first, strict=True):
        assert list(rec["judges"]) == ["oracle", "reward_model", second]
        assert rec["judges"]["oracle"] == old["judges"]["oracle"]
        assert rec["judges"]["reward_model"] == old["judges"]["reward_model"]  # the same judge, the same scores
        assert rec["judges"][second]["identity"] == f"RewardModelJudge:{tiny['reward0']}"
    assert list(metrics["judges"]) == ["oracle", "reward_model", second]
    assert metrics["judges"]["reward_model"] == first_metrics["judges"]["reward_model"]
    assert metrics["judges"][second]["score_mean"] != metrics["judges"]["reward_model"]["score_mean"]
    head = report.load(run).table().splitlines()[0]
    assert f"| judge[oracle] | judge[reward_model] | judge[{second}] |" in head  # both columns


def guided_by(run: Path, reward: Path) -> None:
    """As if ``run`` had been guided by the reward model at ``reward`` (its saved config.yaml)."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["reward"]["path"] = str(reward)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.mark.slow
def test_entrgi_judge_refuses_the_guidance_reward_unless_allowed(finished_run, tiny, tmp_path):
    sweep, run = sweep_copy(finished_run, tmp_path)
    guided_by(run, tiny["reward"])
    before = (run / "generations.jsonl").read_text(), (run / "metrics.json").read_text()
    refused = r"sweep/0: judge\.path=.* is the guidance reward model \(reward\.path=.*judge\.allow_guidance_reward=true"
    with pytest.raises(SystemExit, match=refused):
        main([str(sweep), *reward_judge(os.path.relpath(tiny["reward"]))])  # the same folder, spelled otherwise
    assert ((run / "generations.jsonl").read_text(), (run / "metrics.json").read_text()) == before
    assert main([str(sweep), *reward_judge(tiny["reward"], "judge.allow_guidance_reward=true")]) == 0
    records, metrics = read_run(run)
    assert all(list(r["judges"]) == ["oracle", "reward_model"] for r in records) and metrics["judge"] == "reward_model"


def test_entrgi_run_refuses_the_guidance_reward_before_models_load_unless_allowed(tiny, tmp_path):
    out = tmp_path / "run"
    same = ["reward=skywork_v2_qwen3_4b", f"reward.path={tiny['reward']}", *reward_judge(f"{tiny['reward']}/")]
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        refused = compose("run", overrides=[*same, "logger=none", f"paths.output_dir={out}"])
        allowed = compose("run", overrides=[*same, "judge.allow_guidance_reward=true", f"paths.output_dir={out}"])
    message = f"judge.path={tiny['reward']}/ is the guidance reward model (reward.path={tiny['reward']})"
    with pytest.raises(ValueError, match=re.escape(message) + ".*judge.allow_guidance_reward=true"):
        run(refused)  # what python -m entrgi.run calls: refused in check_config, its first phase
    assert not out.exists()  # before the output folder, the prompts and any model
    check_config(allowed)  # accepted, and the judge takes the key
    assert isinstance(instantiate(allowed.judge), RewardModelJudge)
