"""The command line, end to end on CPU with the shipped testbed models."""

import json
from pathlib import Path

import pytest
from cli_runs import read_run, run_cli
from wandb_reader import summarize_run

FAST = ["schedule.steps=4", "schedule.max_new_tokens=16", "samples_per_prompt=2", "data.limit=3", "data.batch_size=2"]


def only_run_dir(root: Path) -> Path:
    dirs = [p.parent for p in root.rglob("metrics.json")]
    assert len(dirs) == 1, dirs
    return dirs[0]


def check_records(records, metrics, k, n, method):
    assert metrics["num_prompts"] == len(records) == n
    ids = [r["sample_id"] for r in records]
    assert len(set(ids)) == n
    for r in records:
        assert len(r["responses"]) == len(r["rewards"]) == k
        assert r["top1_reward"] == pytest.approx(max(r["rewards"]), abs=1e-5)
        assert r["avgN_reward"] == pytest.approx(sum(r["rewards"]) / k, abs=1e-5)
        assert r["rewards"][r["best_index"]] == pytest.approx(r["top1_reward"], abs=1e-5)
        assert r["method"] == method
        guided = {"w_mean", "reward_soft_before"} if method != "bon" else set()  # the method's statistics
        assert set(r["trace"]) >= {"entropy_mean", "committed", "guided", *guided}
        assert "oracle_total" in r["judge"] and r["judge"]["score"] == r["judge"]["oracle_total"]
        assert len(r["judge_all"]) == k and r["judge_all"][r["best_index"]] == r["judge"]
        assert r["run"] == metrics["run"]
        length = len(r["order"]["tokens"])
        steps = len(r["trace"]["committed"])
        assert length == len(r["order"]["commit_step"]) and all(0 <= s < steps for s in r["order"]["commit_step"])
    assert metrics["run"]["method"] == method and metrics["run"]["seed"] == metrics["seed"]
    assert metrics["run"]["dataset"] == "testbed" and metrics["run"]["judge"] == "oracle"
    compute = metrics["compute"]
    assert compute["dllm_forwards"] == metrics["dllm_calls"] and compute["reward_forwards"] == metrics["reward_calls"]
    assert compute["flops"] == compute["dllm_flops"] + compute["reward_flops"] > 0
    assert (compute["reward_backwards"] > 0) == (method != "bon") and metrics["gpu_s"] is None
    assert metrics["top1_reward_mean"] == pytest.approx(sum(r["top1_reward"] for r in records) / n, abs=1e-5)
    assert metrics["top1_reward_mean"] >= metrics["avgN_reward_mean"]
    for key in (
        "generation_wall_s",
        "total_wall_s",
        "tokens_per_s",
        "peak_memory_bytes",
        "peak_gpu_memory_bytes",
        "dllm_calls",
        "reward_calls",
        "skipped",
    ):
        assert key in metrics
    assert metrics["peak_memory_bytes"] > 0 and metrics["peak_gpu_memory_bytes"] is None  # CPU runs


def test_default_run(tmp_path):
    run_cli(["data.limit=4"], cwd=tmp_path)
    folder = only_run_dir(tmp_path / "outputs")
    records, metrics = read_run(folder)
    check_records(records, metrics, k=4, n=4, method="entrgi")
    assert (folder / "config.yaml").exists()
    info = json.loads((folder / "run_info.json").read_text())
    assert "git_commit" in info and info["method"] == "entrgi"
    assert metrics["dllm_calls"] == 48  # one batch of 4 prompts x T=48 steps


def test_smoke_experiment_aps_seed2_and_wandb_offline_run(tmp_path):
    run_cli(["+experiment=smoke", "guidance=aps", "seed=2"], cwd=tmp_path)
    folder = only_run_dir(tmp_path / "outputs")
    records, metrics = read_run(folder)
    check_records(records, metrics, k=2, n=4, method="aps")
    assert metrics["seed"] == 2
    assert all(r["trace"]["w_mean"][0] == pytest.approx(1.0) for r in records)  # APS: w = 1
    assert all(len(r["trace"]["committed"]) == 6 for r in records)
    assert sum(records[0]["trace"]["committed"]) == pytest.approx(16)
    # the offline W&B run, read back from disk
    (run_file,) = folder.glob("wandb/offline-run-*/run-*.wandb")
    run = summarize_run(run_file)
    assert run["group"] == "smoke"
    assert {
        "denoise/step",
        "denoise/entropy_mean",
        "denoise/entropy_min",
        "denoise/entropy_max",
        "denoise/w_mean",
        "denoise/reward_soft_before",
        "denoise/reward_soft_after",
        "denoise/tokens_committed",
        "prompt/index",
        "prompt/top1_reward",
        "prompt/avgN_reward",
    } <= run["history"]
    assert any(k.startswith("generations/") for k in run["history"])
    assert {"top1_reward_mean", "avgN_reward_mean", "generation_wall_s", "num_prompts"} <= run["summary"]
    assert {"guidance", "schedule", "seed", "git_commit"} <= run["config"]
    steps = [json.loads(r["denoise/step"]) for r in run["history_rows"] if "denoise/step" in r]
    assert steps == list(range(6))


def test_multirun_sweep_two_methods_two_seeds(tmp_path):
    run_cli(["-m", "guidance=bon,entrgi", "seed=1,2", *FAST, "logger=none"], cwd=tmp_path)
    dirs = sorted(p.parent for p in (tmp_path / "multirun").rglob("metrics.json"))
    assert len(dirs) == 4
    seen = set()
    for d in dirs:
        records, metrics = read_run(d)
        check_records(records, metrics, k=2, n=3, method=metrics["method"])
        seen.add((metrics["method"], metrics["seed"]))
    assert seen == {("bon", 1), ("bon", 2), ("entrgi", 1), ("entrgi", 2)}


def test_ablation_entropy_sweep_shrunk(tmp_path):
    run_cli(
        [
            "+experiment=ablation_entropy",
            "data.limit=1",
            "schedule.steps=2",
            "schedule.max_new_tokens=8",
            "samples_per_prompt=2",
            "logger=none",
        ],
        cwd=tmp_path,
    )
    dirs = sorted(p.parent for p in (tmp_path / "multirun").rglob("metrics.json"))
    assert len(dirs) == 18
    combos = {(read_run(d)[1]["method"], read_run(d)[1]["seed"]) for d in dirs}
    methods = {m for m, _ in combos}
    assert methods == {"expectation", "aps", "entrgi", "w=constant:0.5", "w=one_minus_entropy", "w=threshold:0.5"}
    assert {s for _, s in combos} == {1, 2, 3} and len(combos) == 18


@pytest.mark.parametrize(
    "override, key",
    [
        ("samples_per_prompt=0", "samples_per_prompt"),
        ("schedule.top_p=2", "schedule.top_p"),
        ("guidance.inner_steps=0", "guidance.inner_steps"),
        ("guidance.weight=entropi", "guidance.weight"),
        ("data.limit=-1", "data.limit"),
        ("max_chunk_bytes=0", "max_chunk_bytes"),
        ("max_chunk_bytes=true", "max_chunk_bytes"),
    ],
)
def test_bad_values_fail_before_models_load(tmp_path, override, key):
    # the model path does not exist: reaching the model loader would fail there instead
    proc = run_cli(
        [override, "model.path=/nonexistent/model", "logger=none"],
        cwd=tmp_path,
        check=False,
        env_extra={"HYDRA_FULL_ERROR": "1"},
    )
    assert proc.returncode != 0
    assert key in proc.stderr, proc.stderr[-2000:]
    assert "load_dllm" not in proc.stderr and "no testbed dllm checkpoint" not in proc.stderr


def test_resume_skips_done_samples(tmp_path):
    out = tmp_path / "run"
    run_cli([*FAST, "data.limit=2", "logger=none", f"paths.output_dir={out}"], cwd=tmp_path)
    first, _ = read_run(out)
    run_cli([*FAST, "data.limit=3", "logger=none", "resume=true", f"paths.output_dir={out}"], cwd=tmp_path)
    records, metrics = read_run(out)
    assert metrics["resumed_prompts"] == 2 and metrics["num_prompts"] == 3
    assert records[:2] == first  # finished results kept untouched
    segments = json.loads((out / "segments.json").read_text())
    assert segments[-1]["dllm_calls"] == 4  # only the new prompt was denoised
    assert metrics["dllm_calls"] == sum(s["dllm_calls"] for s in segments) == 8  # summed over segments


@pytest.mark.parametrize("text, kind", [("", "empty"), ('{"prompt": "a"}\n{"prompt": \n', "line 2")])
def test_unreadable_jsonl_fails_before_models_load(tmp_path, text, kind):
    data = tmp_path / "prompts.jsonl"
    data.write_text(text)
    proc = run_cli(
        ["data=jsonl", f"data.path={data}", "data.on_invalid=error", "model.path=/nonexistent/model", "logger=none"],
        cwd=tmp_path,
        check=False,
        env_extra={"HYDRA_FULL_ERROR": "1"},
    )
    assert proc.returncode != 0
    assert "prompts.jsonl" in proc.stderr and kind in proc.stderr and "StopIteration" not in proc.stderr
    assert "load_dllm" not in proc.stderr and "no testbed dllm checkpoint" not in proc.stderr


def test_nothing_left_to_run_says_so_and_exits_cleanly(tmp_path):
    data = tmp_path / "prompts.jsonl"
    data.write_text('{"prompt": ""}\n{"prompt": null}\n')
    out = tmp_path / "run"
    proc = run_cli(
        ["data=jsonl", f"data.path={data}", "model.path=/nonexistent/model", "logger=none", f"paths.output_dir={out}"],
        cwd=tmp_path,
    )
    assert "nothing to run" in proc.stderr + proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_prompts"] == 0 and metrics["skipped"] == {"empty_prompt": 1, "missing_prompt": 1}
