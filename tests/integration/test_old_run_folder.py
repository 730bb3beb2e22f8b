"""A run folder written by the previous layout (commit 5efa032: ``entrgi.models`` / ``entrgi.guidance``
targets, no fidelity keys) still resumes, reports and re-judges. The fixture is that commit's
``python -m entrgi.run +experiment=smoke data.limit=3 data.batch_size=2 samples_per_prompt=2
schedule.steps=4 schedule.max_new_tokens=8 logger=none``."""

import json
import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from entrgi import report
from entrgi.judge import main as judge_main
from entrgi.pipeline.phases import run
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
