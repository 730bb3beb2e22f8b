"""The pipeline's phases without models: prompts from data.source as it is, and the metrics.json dict."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import InstantiationException

from entrgi.outputs.metrics import Generated, RunSetup, read_metrics, run_metrics, write_metrics
from entrgi.pipeline import phases as pipeline

CONTRACT_KEYS = [  # README (Outputs): metrics.json's key names, in the order the file holds them
    "num_prompts",
    "top1_reward_mean",
    "avgN_reward_mean",
    "nonfinite_rewards",
    "run",
    "method",
    "seed",
    "samples_per_prompt",
    "generation_wall_s",
    "total_wall_s",
    "tokens_per_s",
    "device_s",
    "gpu_s",
    "cpu_s",
    "load_avg_start",
    "load_avg_end",
    "cpu_count",
    "segments",
    "compute",
    "peak_memory_bytes",
    "peak_gpu_memory_bytes",
    "dllm_calls",
    "reward_calls",
    "faults",
    "world_size",
    "resumed_prompts",
    "skipped",
    "guidance",
]


def compose_run(overrides):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", ["logger=none", "paths.output_dir=/tmp/unused", *overrides])


def test_load_prompts_instantiates_data_source_as_it_is():
    prompts = pipeline.load_prompts(compose_run(["data.limit=3", "seed=2"]))
    assert [it.sample_id for it in prompts.items] == ["testbed-2-0", "testbed-2-1", "testbed-2-2"]
    assert prompts.order == {"testbed-2-0": 0, "testbed-2-1": 1, "testbed-2-2": 2} and prompts.skipped == {}


def test_a_bad_source_value_fails_in_load_prompts_naming_the_key():
    with pytest.raises(InstantiationException, match=r"data\.limit must be a positive integer, got 0"):
        pipeline.load_prompts(compose_run(["data.limit=0"]))


def test_run_metrics_numbers_and_key_order(tmp_path):
    records = [
        {"sample_id": "a", "top1_reward": 2.0, "avgN_reward": 1.0, "rewards": [2.0, 0.0]},
        {"sample_id": "b", "top1_reward": 4.0, "avgN_reward": 2.0, "rewards": [4.0, None]},
    ]
    stats = {
        "generation_wall_s": 2.0,
        "generated_tokens": 50,
        "device_s": 1.5,
        "device_type": "cpu",
        "dllm_calls": 7,
        "reward_calls": 3,
        "world_size": 2,
    }
    identity = {"method": "entrgi", "seed": 3}
    setup = RunSetup(identity=identity, guidance="entrgi(M=1)", seed=3, samples_per_prompt=2, skipped={"too_long": 1})
    metrics = run_metrics(
        setup,
        Generated(
            records=records, stats=stats, total_wall_s=9.0, compute={"flops": 1}, world_size=1, resumed_prompts=1
        ),
    )
    assert list(metrics) == CONTRACT_KEYS
    assert (metrics["num_prompts"], metrics["top1_reward_mean"], metrics["avgN_reward_mean"]) == (2, 3.0, 1.5)
    assert metrics["nonfinite_rewards"] == 1 and metrics["tokens_per_s"] == 25.0
    assert metrics["gpu_s"] is None and metrics["device_s"] == 1.5  # a CPU run has no GPU time
    assert metrics["world_size"] == 2 and metrics["faults"] == 0 and metrics["peak_memory_bytes"] is None
    cuda = run_metrics(setup, _generated(stats | {"device_type": "cuda"}))
    assert cuda["gpu_s"] == 1.5 and cuda["num_prompts"] == 0
    idle = run_metrics(setup, _generated({}))
    idle_numbers = (idle["generation_wall_s"], idle["tokens_per_s"], idle["world_size"], idle["dllm_calls"])
    assert idle_numbers == (0.0, None, 1, 0)  # nothing ran on this rank: the trainer's world size
    write_metrics(tmp_path, metrics)
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics == read_metrics(tmp_path)
    oom = run_metrics(setup, _generated(stats | {"oom_skipped": 2}, vocab_coverage={"covered": 1.0}))
    assert oom["skipped"] == {"too_long": 1, "out_of_memory": 2} and list(oom)[-2:] == ["guidance", "vocab_coverage"]


def test_empty_metrics():
    identity = {"method": "bon", "seed": 1}
    setup = RunSetup(identity=identity, guidance="bon", seed=1, samples_per_prompt=4, skipped={"empty_file": 1})
    metrics = run_metrics(setup)
    assert metrics == {
        "num_prompts": 0,
        "top1_reward_mean": None,
        "avgN_reward_mean": None,
        "method": "bon",
        "seed": 1,
        "run": identity,
        "skipped": {"empty_file": 1},
        "guidance": "bon",
    }


def _generated(stats, **extra):
    return Generated(records=[], stats=stats, total_wall_s=1.0, compute={}, world_size=1, resumed_prompts=0, **extra)
