"""Runs you can trust: a folder with results is never overwritten by accident, one run per folder, a
clean stop on SIGTERM, costs summed over resumed segments, Hydra's files beside the results."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runs import cli_env, read_run
from hydra import compose, initialize_config_module

from entrgi.outputs.guard import FolderHasResults
from entrgi.outputs.lock import FolderInUse, RunLock
from entrgi.pipeline import phases as pipeline
from entrgi.pipeline.preempt import StopSignals

ARGS = [
    "schedule.steps=4",
    "schedule.max_new_tokens=8",
    "samples_per_prompt=2",
    "data.limit=4",
    "data.batch_size=1",
    "logger=none",
]
COUNTERS = ("dllm_forwards", "dllm_tokens", "reward_forwards", "reward_forward_tokens", "reward_backward_tokens")


def compose_run(overrides):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", overrides=overrides)


def run_in(out: Path, *extra: str) -> dict:
    return pipeline.run(compose_run([*ARGS, *extra, f"paths.output_dir={out}"]))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    run_in(out)
    return read_run(out)


def results(folder: Path) -> dict[str, bytes]:
    """The run's own files (not the lock, not Hydra's)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def same_costs(metrics: dict, expected: dict) -> None:
    for key in COUNTERS:
        assert metrics["compute"][key] == expected["compute"][key], key
    assert metrics["compute"]["flops"] == expected["compute"]["flops"]
    assert metrics["compute"]["flops_per_prompt"] == expected["compute"]["flops_per_prompt"]
    assert metrics["compute"]["prompts"] == metrics["num_prompts"] == expected["num_prompts"]
    assert metrics["cpu_s"] > 0 and metrics["load_avg_start"] is not None and metrics["cpu_count"] >= 1


def test_rerun_is_refused_before_models_load_and_overwrite_moves_the_old_contents(tmp_path, uninterrupted):
    out = tmp_path / "run"
    run_in(out, "data.limit=2")
    before = results(out)
    with pytest.raises(FolderHasResults, match=r"resume=true.*another paths\.output_dir.*overwrite=true"):
        run_in(out, "guidance=bon", "model.path=/nonexistent/model")  # refused before the model loads
    assert results(out) == before  # nothing touched
    run_in(out, "overwrite=true")
    (moved,) = (out / "overwritten").iterdir()
    assert results(moved) == before and (out / ".hydra").exists() is False  # kept, not deleted
    records, metrics = read_run(out)
    assert metrics["num_prompts"] == 4 and metrics["segments"] == 1
    assert [r["responses"] for r in records] == [r["responses"] for r in uninterrupted[0]]


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    hold = f"from entrgi.outputs.lock import RunLock; lock = RunLock({str(out)!r}); lock.acquire(); input()"
    holder = subprocess.Popen(  # another process holds the folder's lock
        [sys.executable, "-c", hold],
        stdin=subprocess.PIPE,
        env=cli_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while not (out / ".entrgi.lock.json").exists():
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.02)
        with pytest.raises(FolderInUse, match=rf"in use by another run \(pid {holder.pid} on host"):
            run_in(out, "model.path=/nonexistent/model")
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock(out)  # the holder died without releasing: its OS lock is gone, the record is stale
    lock.acquire()
    assert json.loads((out / ".entrgi.lock.json").read_text())["pid"] == os.getpid()
    lock.release()


def test_sigterm_stops_after_the_batch_in_flight_and_resume_is_exact(tmp_path, uninterrupted):
    expected, expected_metrics = uninterrupted
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "entrgi.run", *ARGS, f"paths.output_dir={out}"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    shard = out / "shards" / "rank0.jsonl"
    deadline = time.monotonic() + 120
    while not (shard.exists() and shard.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    seen = shard.read_text().count("\n")
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    assert "resume=true" in stdout + stderr and "stopped on SIGTERM" in stdout + stderr
    written = shard.read_text()
    assert written.endswith("\n") and seen <= written.count("\n") <= seen + 1 < 4  # within one batch
    assert not (out / "generations.jsonl").exists() and not (out / "metrics.json").exists()
    # Hydra's log and .hydra/ live in the run folder; nothing under the working directory's outputs/
    assert (out / "run.log").is_file() and (out / ".hydra" / "config.yaml").is_file()
    assert not (tmp_path / "outputs").exists()
    metrics = run_in(out, "resume=true")
    records, _ = read_run(out)
    assert [(r["sample_id"], r["responses"]) for r in records] == [(r["sample_id"], r["responses"]) for r in expected]
    assert metrics["segments"] == 2 and metrics["resumed_prompts"] == written.count("\n")
    same_costs(metrics, expected_metrics)
    segments = json.loads((out / "segments.json").read_text())
    assert [s["ended"] for s in segments] == ["stopped", "finished"]


def test_costs_sum_over_segments_a_requeued_job_resumes_and_a_finished_resume_changes_nothing(
    tmp_path, monkeypatch, uninterrupted
):
    out = tmp_path / "run"
    run_in(out, "data.limit=2", "logger=wandb", "logger.mode=offline")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")  # a requeued SLURM job resumes without resume=true
    metrics = run_in(out, "logger=wandb", "logger.mode=offline")
    monkeypatch.delenv("SLURM_RESTART_COUNT")
    assert metrics["segments"] == 2 and metrics["resumed_prompts"] == 2
    same_costs(metrics, uninterrupted[1])
    runs = sorted(p.name for p in (out / "wandb").iterdir() if p.name.startswith("offline-run-"))
    wandb_id = json.loads((out / "run_info.json").read_text())["wandb_run_id"]
    assert len(runs) == 2 and all(name.endswith(wandb_id) for name in runs)  # one W&B run, continued
    before = (out / "metrics.json").read_text()
    run_in(out, "resume=true")
    assert (out / "metrics.json").read_text() == before


def test_a_failed_check_leaves_no_folder(tmp_path):
    env = cli_env()
    proc = subprocess.run(
        [sys.executable, "-m", "entrgi.run", "samples_per_prompt=0", "logger=none"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "samples_per_prompt" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_sigusr1_under_slurm_requeues_the_job(tmp_path, monkeypatch):
    scontrol = tmp_path / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/called\n')
    scontrol.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    signals = StopSignals()
    signals._handle(signal.SIGUSR1, None)
    stopped = signals.stopped(written=3, total=8)
    assert stopped.code == 128 + signal.SIGUSR1 and "requeued" in str(stopped)
    assert (tmp_path / "called").read_text().split() == ["requeue", "4242"]


def test_sigusr2_is_handed_to_the_launchers_handler_after_the_batch():
    called = []
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: called.append(signum))  # as submitit's
    try:
        with StopSignals() as signals:
            os.kill(os.getpid(), signal.SIGUSR2)
            assert signals.requested and called == []  # not in the middle of a batch
            signals.stopped(written=1, total=2)
            assert called == [signal.SIGUSR2]
    finally:
        signal.signal(signal.SIGUSR2, previous)
