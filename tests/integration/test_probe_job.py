"""``python -m entrgi.probe`` on the testbed with tiny settings: the config composes, the job writes its
report, and probing leaves the trajectories exactly as unguided (BoN) sampling makes them."""

import csv
import json
import os
import subprocess
import sys

import pytest
import torch
from cli_runs import cli_env
from hydra import compose, initialize_config_module

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import NoGuidance
from entrgi.engine.probe import ProbeSettings, SoftReadProbe
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.outputs.guard import FolderHasResults
from entrgi.outputs.lock import FolderInUse, RunLock
from entrgi.pipeline import job_dir
from entrgi.pipeline import probe as probe_job
from entrgi.testbed import load_dllm, load_reward

TINY = ["probe.prompts=1", "samples_per_prompt=1", "data.batch_size=1", "probe.draws=2", "probe.st_draws=1"]
TINY += [
    "probe.bins=2",
    "probe.exact_limit=4",
    "probe.stages=[0.5,0.75]",
    "schedule.steps=4",
    "schedule.max_new_tokens=8",
]


def test_the_probe_job_writes_its_report(tmp_path):
    job_dir.register()
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        cfg = compose("probe", overrides=[*TINY, f"probe.output_dir={tmp_path}", "paths.output_dir=x"])
    written = probe_job.run(cfg, command="python -m entrgi.probe " + " ".join(TINY))
    kept = {"probe.md", "probe.csv", "probe_rows.csv", "probe.png", "config.yaml", "run_info.json", ".entrgi.lock"}
    assert {p.name for p in tmp_path.iterdir()} <= kept and {"probe.md", "run_info.json"} <= set(os.listdir(tmp_path))
    assert json.loads((tmp_path / "run_info.json").read_text())["method"] == "probe"
    rows = list(csv.DictReader(written["rows"].open()))
    assert {r["step"] for r in rows} == {"2", "3"} and {r["stage"] for r in rows} == {"0.5", "0.75"}
    assert {r["sample_id"] for r in rows} and {r["k"] for r in rows} == {"0"}
    table = list(csv.DictReader(written["csv"].open()))
    assert {r["stage"] for r in table} == {"0.5", "0.75", "all"}
    text = written["markdown"].read_text()
    assert "python -m entrgi.probe probe.prompts=1" in text and "| cos Expectation | cos APS | cos EntRGi |" in text


def test_probing_leaves_the_trajectories_unguided():
    lm, reward = load_dllm(device="cpu"), load_reward(device="cpu")
    schedule = DenoisingSchedule(4, 8, temperature=0.7, top_p=0.95)
    from entrgi.data.sources import TestbedPromptSource

    items = TestbedPromptSource(limit=1, seed=3).load().items
    probe = SoftReadProbe([1], ProbeSettings(bins=2, draws=2, st_draws=1, methods=("one",), exact_limit=4))
    probed = GuidedDenoiser(lm, reward, probe, schedule, samples_per_prompt=2, seed=3).generate(items)
    plain = GuidedDenoiser(lm, reward, NoGuidance(), schedule, samples_per_prompt=2, seed=3).generate(items)
    assert torch.equal(probed.tokens, plain.tokens) and probed.responses == plain.responses
    assert {r["step"] for r in probe.rows} == {1} and "cos_aps" in probe.rows[0]


def test_the_entry_point_composes_the_probe_config():
    proc = subprocess.run(
        [sys.executable, "-m", "entrgi.probe", "--cfg", "job", "probe.bins=3", "reward=testbed"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "probe:" in proc.stdout and "bins: 3" in proc.stdout and "_target_: entrgi.testbed.load_dllm" in proc.stdout


def test_the_probe_shares_the_run_lifecycle(tmp_path):
    """Locked (a second job into a busy folder is refused), guarded (a probe's report is never replaced by
    accident: overwrite=true moves it aside), checked before any model loads."""
    job_dir.register()
    here = [*TINY, f"probe.output_dir={tmp_path}", "paths.output_dir=x"]
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        cfg, again = compose("probe", overrides=here), compose("probe", overrides=[*here, "overwrite=true"])
        bad = compose("probe", overrides=[*here, f"probe.output_dir={tmp_path / 'bad'}", "probe.stages=[1.5]"])
    with RunLock(tmp_path), pytest.raises(FolderInUse):
        probe_job.run(cfg)
    probe_job.run(cfg)
    with pytest.raises(FolderHasResults, match="overwrite=true"):
        probe_job.run(cfg)
    probe_job.run(again)
    (moved,) = list((tmp_path / "overwritten").iterdir())
    assert (moved / "probe.md").is_file() and (tmp_path / "probe.md").is_file()
    with pytest.raises(ValueError, match="probe.stages"):
        probe_job.run(bad)
    assert not (tmp_path / "bad").exists()  # refused before its folder
