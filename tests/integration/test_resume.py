"""resume=true after a SIGKILL at any moment: every sample_id exactly once, earlier lines byte for byte,
the same generations as an uninterrupted run; a resume with different settings is refused early."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runs import cli_env, read_run, run_cli
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from entrgi.outputs.generations import done_sample_ids, merge_shards
from entrgi.outputs.jsonl import read_lines, read_records, repair
from entrgi.pipeline import phases as pipeline
from entrgi.pipeline.resume import check_resume_config, config_differences

ARGS = [
    "schedule.steps=4",
    "schedule.max_new_tokens=8",
    "samples_per_prompt=2",
    "data.limit=8",
    "data.batch_size=2",
    "logger=none",
]
DDP = ["trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]


def complete_lines(path: Path) -> list[str]:
    return [line for _, line in read_lines(path)]


def start_and_kill(args: list[str], out: Path, cwd: Path, timeout: float = 120) -> list[str]:
    """Start ``python -m entrgi.run``; SIGKILL its whole process group once a shard holds a complete line.
    Returns the complete shard lines present at the kill."""
    env = cli_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "entrgi.run", *args, f"paths.output_dir={out}"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while not any(b"\n" in p.read_bytes() for p in (out / "shards").glob("rank*.jsonl")):
            assert proc.poll() is None, f"the run ended ({proc.returncode}) before it wrote a shard line"
            assert time.monotonic() < deadline, "no shard line in time"
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "generations.jsonl").exists(), "killed too late: the run had already merged"
    return [line for p in sorted((out / "shards").glob("rank*.jsonl")) for line in complete_lines(p)]


def tear(shard: Path, record: dict) -> None:
    """Append the first half of a record with no newline: a writer killed mid-line."""
    text = json.dumps(record)
    with shard.open("a") as f:
        f.write(text[: len(text) // 2])


def assert_same_generations(records: list[dict], expected: list[dict], reward_tol: float) -> None:
    assert [r["sample_id"] for r in records] == [r["sample_id"] for r in expected]  # once each, dataset order
    for got, want in zip(records, expected, strict=True):
        assert got["responses"] == want["responses"] and got["best_index"] == want["best_index"]
        assert got["rewards"] == pytest.approx(want["rewards"], abs=reward_tol)
        for key, values in want["trace"].items():
            assert got["trace"][key] == pytest.approx(values, abs=reward_tol, nan_ok=True), key


def check_resumed(out: Path, before_kill: list[str], expected: list[dict], reward_tol: float) -> None:
    final = (out / "generations.jsonl").read_text().splitlines(keepends=True)
    assert set(before_kill) <= set(final)  # records written before the kill, byte for byte
    records, metrics = read_run(out)
    assert_same_generations(records, expected, reward_tol)
    assert metrics["num_prompts"] == len(expected) and metrics["resumed_prompts"] == len(before_kill)
    assert not list((out / "shards").glob("*"))  # merged and cleaned up


def test_sigkill_then_resume_one_process(tmp_path):
    full, out = tmp_path / "full", tmp_path / "killed"
    pipeline.run(compose_run([*ARGS, f"paths.output_dir={full}"]))  # uninterrupted, in this process
    expected, full_metrics = read_run(full)
    before_kill = start_and_kill(ARGS, out, tmp_path)
    assert 1 <= len(before_kill) < len(expected)
    done = {json.loads(line)["sample_id"] for line in before_kill}
    torn = next(r for r in expected if r["sample_id"] not in done)
    tear(out / "shards" / "rank0.jsonl", torn)
    assert done_sample_ids(out) == done  # the torn line does not count as done
    run_cli([*ARGS, "resume=true", f"paths.output_dir={out}"], cwd=tmp_path)
    check_resumed(out, before_kill, expected, reward_tol=1e-5)
    # the killed invocation's costs are kept (the share of its last batch whose records were written)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["segments"] == 2 and metrics["compute"]["prompts"] == len(expected)
    assert metrics["compute"]["flops"] == pytest.approx(full_metrics["compute"]["flops"], rel=0.1)


@pytest.mark.slow
def test_sigkill_then_resume_two_ddp_processes(tmp_path):
    full, out = tmp_path / "full", tmp_path / "killed"
    pipeline.run(compose_run([*ARGS, f"paths.output_dir={full}"]))  # one process: results do not depend on world size
    expected, _ = read_run(full)
    before_kill = start_and_kill([*ARGS, *DDP], out, tmp_path)
    assert 1 <= len(before_kill) < len(expected)
    done = {json.loads(line)["sample_id"] for line in before_kill}
    tear(out / "shards" / "rank1.jsonl", next(r for r in expected if r["sample_id"] not in done))
    run_cli([*ARGS, *DDP, "resume=true", f"paths.output_dir={out}"], cwd=tmp_path)
    check_resumed(out, before_kill, expected, reward_tol=1e-4)  # rewards up to a different reward batch's rounding


def compose_run(overrides):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", overrides=overrides)


def test_resume_with_changed_settings_is_refused_before_models_load(tmp_path):
    out = tmp_path / "run"
    nowhere = ["model.path=/nonexistent/model", "logger=none", f"paths.output_dir={out}"]
    out.mkdir()
    saved = OmegaConf.to_yaml(compose_run([*nowhere, "guidance.lr=0.5"]), resolve=True)
    (out / "config.yaml").write_text(saved)  # as the first run saved it
    (out / "shards").mkdir()
    (out / "shards" / "rank0.jsonl").write_text('{"sample_id": "testbed-0"}\n')  # the folder holds a result

    proc = run_cli(
        [*nowhere, "guidance.lr=0.25", "seed=3", "resume=true"],
        cwd=tmp_path,
        check=False,
        env_extra={"HYDRA_FULL_ERROR": "1"},
    )
    assert proc.returncode != 0
    assert "resume=true refused" in proc.stderr and "guidance.lr: saved 0.5, now 0.25" in proc.stderr
    assert "seed: saved 1, now 3" in proc.stderr and "data.source.seed: saved 1, now 3" in proc.stderr
    assert "load_dllm" not in proc.stderr and "no testbed dllm checkpoint" not in proc.stderr
    assert (out / "config.yaml").read_text() == saved  # the refused run changed nothing

    # settings that do not change generations may differ
    allowed = [
        "guidance.lr=0.5",
        "data.limit=40",
        "data.batch_size=3",
        "max_chunk_bytes=65536",
        "judge=none",
        "trainer=ddp",
        "trainer.devices=2",
        "resume=true",
        "paths.output_dir=elsewhere",
    ]
    check_resume_config(out, compose_run([*nowhere, *allowed]))
    with pytest.raises(ValueError, match="schedule.temperature"):
        check_resume_config(out, compose_run([*nowhere, "guidance.lr=0.5", "schedule.temperature=0.3"]))
    (out / "shards" / "rank0.jsonl").unlink()  # no result yet: nothing to protect, any settings go
    check_resume_config(out, compose_run([*nowhere, "guidance.lr=0.25"]))


def test_torn_lines_are_not_done_not_merged_and_cut_before_appending(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    kept = '{"sample_id": "b", "x": 0.1000000000000000055511151231257827}\n'  # odd float text kept verbatim
    (tmp_path / "generations.jsonl").write_text(kept)
    (shards / "rank0.jsonl").write_text('{"sample_id": "a", "x": 1}\n{"sample_id": "c", "x": 2}')  # no newline
    (shards / "rank1.jsonl").write_text('{"sample_id": "d"}\n{"sample_i')
    assert done_sample_ids(tmp_path) == {"a", "b", "d"}
    assert [r["sample_id"] for r in read_records(shards / "rank0.jsonl")] == ["a"]
    assert repair(shards / "rank0.jsonl") == len('{"sample_id": "c", "x": 2}')
    assert repair(shards / "rank0.jsonl") == 0
    with (shards / "rank0.jsonl").open("a") as f:
        f.write('{"sample_id": "e"}\n')  # the next append starts on a fresh line
    merge_shards(tmp_path, {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4})
    assert (tmp_path / "generations.jsonl").read_text() == (
        '{"sample_id": "a", "x": 1}\n' + kept + '{"sample_id": "d"}\n{"sample_id": "e"}\n'
    )
    assert not list(shards.glob("*.jsonl"))


def test_which_keys_must_match():
    base = {
        "seed": 1,
        "samples_per_prompt": 4,
        "save_entropy_maps": True,
        "resume": False,
        "max_chunk_bytes": None,
        "model": {"path": "m", "dtype": "float32"},
        "guidance": {"lr": 0.5},
        "schedule": {"steps": 4},
        "reward": {"path": "r"},
        "data": {"limit": 8, "batch_size": 2, "source": {"limit": 8, "seed": 1}},
        "judge": {"_target_": "a"},
        "trainer": {"devices": 1},
        "logger": {},
        "paths": {"output_dir": "x"},
    }
    same = OmegaConf.to_container(
        OmegaConf.merge(
            base,
            {
                "resume": True,
                "max_chunk_bytes": 1024,
                "data": {"limit": 80, "batch_size": 1, "source": {"limit": 80}},  # source.limit: ${..limit}
                "judge": {"_target_": "b"},
                "trainer": {"devices": 2},
                "logger": {"_target_": "w"},
                "paths": {"output_dir": "y"},
            },
        )
    )
    assert config_differences(base, same) == {}
    other = OmegaConf.to_container(
        OmegaConf.merge(
            base,
            {
                "model": {"dtype": "bfloat16"},
                "schedule": {"steps": 8},
                "samples_per_prompt": 2,
                "data": {"source": {"split": "test"}},
            },
        )
    )
    assert config_differences(base, other) == {
        "data.source.split": ("<absent>", "test"),
        "model.dtype": ("float32", "bfloat16"),
        "samples_per_prompt": (4, 2),
        "schedule.steps": (4, 8),
    }


def test_killed_after_the_last_batch_before_the_merge(tmp_path):
    """Every record is in the shards but none merged: resume loads, generates nothing and merges."""
    out = tmp_path / "run"
    overrides = [
        "schedule.steps=4",
        "schedule.max_new_tokens=8",
        "samples_per_prompt=2",
        "data.limit=3",
        "logger=none",
        f"paths.output_dir={out}",
    ]
    pipeline.run(compose_run(overrides))
    merged = (out / "generations.jsonl").read_text()
    lines = merged.splitlines(keepends=True)
    (out / "shards" / "rank0.jsonl").write_text(lines[2] + lines[0])  # as two ranks would leave them
    (out / "shards" / "rank1.jsonl").write_text(lines[1])
    (out / "generations.jsonl").unlink()
    first = json.loads((out / "metrics.json").read_text())
    metrics = pipeline.run(compose_run([*overrides, "resume=true"]))
    assert (out / "generations.jsonl").read_text() == merged
    assert metrics["num_prompts"] == 3 and metrics["resumed_prompts"] == 0  # one segment generated them all
    assert metrics["compute"] == first["compute"] and metrics["dllm_calls"] == first["dllm_calls"] > 0
    assert not list((out / "shards").glob("*"))
