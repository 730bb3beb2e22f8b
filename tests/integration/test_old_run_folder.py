"""A run folder written by the previous layout (commit 5efa032: ``entrgi.models`` / ``entrgi.guidance``
targets, no fidelity keys) still resumes, reports and re-judges. The fixture is that commit's
``python -m entrgi.run +experiment=smoke data.limit=3 data.batch_size=2 samples_per_prompt=2
schedule.steps=4 schedule.max_new_tokens=8 logger=none``."""

import json
import shutil
from pathlib import Path

import pytest
from fakes import LengthJudge
from hydra import compose, initialize_config_module

from entrgi import report
from entrgi.judge import main as judge_main
from entrgi.pipeline.phases import run
from entrgi.pipeline.rejudge import judge_run
from entrgi.pipeline.resume import check_resume_config

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_5efa032"
OVERRIDES = [
    "+experiment=smoke",
    "data.batch_size=2",
    "samples_per_prompt=2",
    "schedule.steps=4",
    "schedule.max_new_tokens=8",
    "logger=none",
]


@pytest.fixture
def old_run(tmp_path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(FIXTURE, dst)
    return dst


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "generations.jsonl").read_text().splitlines()]


def _cfg(folder: Path, *extra: str):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", overrides=[*OVERRIDES, f"paths.output_dir={folder}", *extra])


def test_the_fixture_is_of_the_old_layout():
    saved = (FIXTURE / "config.yaml").read_text()
    assert "_target_: entrgi.guidance.GradientGuidance" in saved and "position_ids" not in saved


def test_resume_accepts_the_old_folder_and_extends_it(old_run):
    check_resume_config(old_run, _cfg(old_run, "data.limit=3", "resume=true"))  # same settings: accepted
    before = _records(old_run)
    metrics = run(_cfg(old_run, "data.limit=4", "resume=true"))
    after = _records(old_run)
    assert metrics["num_prompts"] == 4 and len(after) == 4
    assert {r["sample_id"]: r["responses"] for r in after if r["sample_id"] in {b["sample_id"] for b in before}} == {
        r["sample_id"]: r["responses"] for r in before
    }  # the old records are kept as they were


def test_resume_still_refuses_a_real_difference(old_run):
    with pytest.raises(ValueError, match="guidance.weight"):
        check_resume_config(old_run, _cfg(old_run, "data.limit=3", "resume=true", "guidance=aps"))


def test_report_and_judge_read_the_old_folder(old_run):
    report.main([str(old_run)])
    assert "entrgi" in (old_run / "report.md").read_text()
    assert judge_main([str(old_run), "judge=oracle"]) == 0
    assert all(r["judge_name"] == "oracle" for r in _records(old_run))


def test_rejudging_the_old_folder_keeps_its_flat_judgement_as_a_block(old_run):
    before, old_metrics = _records(old_run), json.loads((old_run / "metrics.json").read_text())
    assert not any("judges" in r for r in before) and "judges" not in old_metrics
    judge_run(old_run, LengthJudge())
    after, metrics = _records(old_run), json.loads((old_run / "metrics.json").read_text())
    for rec, old in zip(after, before, strict=True):
        assert list(rec["judges"]) == ["oracle", "length"]
        assert rec["judges"]["oracle"] == {"top1": old["judge"], "all": old["judge_all"]}  # keyed by its judge_name
        assert rec["judge_name"] == "length" and rec["judges"]["length"]["all"] == rec["judge_all"]
    oracle = metrics["judges"]["oracle"]
    assert oracle["identity"] == "oracle" and oracle["grammatical_mean"] == old_metrics["judge_grammatical_mean"]
    assert list(metrics["judges"]) == ["oracle", "length"] and metrics["judge"] == "length"
    report.main([str(old_run), "--no-plots", "--no-wandb"])
    head = (old_run / "report.md").read_text().split("## Answer")[1].strip().splitlines()[0]
    assert "| judge[oracle] |" in head and "| judge[length] |" in head
