"""Every run knows what it is: the identity built from composed configs."""

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from entrgi.outputs.identity import run_identity


def identity(overrides):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        cfg = compose("run", ["logger=none", "paths.output_dir=/tmp/x", *overrides])
    return run_identity(OmegaConf.to_container(cfg, resolve=True), "m")


def test_testbed_default():
    run = identity([])
    assert run == {
        "method": "m",
        "weight": "entropy",
        "inner_steps": 3,
        "lr": 0.5,
        "normalization": "log_vocab",
        "every": 1,
        "until": 1.0,
        "min_entropy": 0.0,
        "fp32": True,
        "samples_per_prompt": 4,
        "steps": 48,
        "temperature": 0.7,
        "top_p": 0.95,
        "top_k": None,
        "alg": "entropy",
        "max_new_tokens": 48,
        "dataset": "testbed",
        "dllm": "testbed",
        "reward": "testbed",
        "judge": "oracle",
        "seed": 1,
    }


def test_paper_config_names_models_data_and_judge():
    run = identity(["+experiment=paper_main", "data=judgebench", "judge=lmunit", "seed=3", "guidance.lr=0.25"])
    assert run["dllm"] == "Dream-org/Dream-v0-Instruct-7B"
    assert run["reward"] == "Skywork/Skywork-Reward-V2-Qwen3-1.7B"
    assert run["dataset"] == "ScalerLab/JudgeBench"
    assert run["judge"].startswith("LMUnitJudge:") and run["seed"] == 3 and run["lr"] == 0.25
    assert run["steps"] == 128 and run["samples_per_prompt"] == 4


def test_fidelity_keys_join_the_identity_off_their_defaults():
    dream = identity(["+experiment=paper_main"])
    exact = identity(["+experiment=[paper_main,paper_exact]"])
    assert dream["stop_tokens"] == "<|im_end|>" and "position_ids" not in dream and "filter_order" not in dream
    assert "stop_tokens" not in exact and exact["fp32"] is False
    assert {k: exact[k] for k in ("filter_order", "entropy_filter", "position_ids", "vocab_fallback")} == {
        "filter_order": "top_p_first",
        "entropy_filter": "authors",
        "position_ids": "authors",
        "vocab_fallback": "unk",
    }


def test_bon_has_no_gradient_hyper_parameters():
    run = identity(["guidance=bon", "data=jsonl", "data.path=/tmp/p.jsonl"])
    assert "lr" not in run and run["judge"] == "none" and run["dataset"] == "/tmp/p.jsonl"


def test_a_new_methods_hyper_parameters_join_the_identity():
    cfg = {"guidance": {"_target_": "my.ToyGuidance", "bias": 12.0, "token_id": 7, "track_final_reward": True}}
    run = run_identity(cfg, "toy")
    assert run["bias"] == 12.0 and run["token_id"] == 7
    assert "_target_" not in run and "track_final_reward" not in run


@pytest.mark.parametrize("option", ["expectation", "aps", "entrgi"])
def test_gradient_methods_share_one_base(option):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        cfg = compose("run", [f"guidance={option}"]).guidance
    assert cfg.weight == {"expectation": "zero", "aps": "one", "entrgi": "entropy"}[option]
    assert cfg.every == 1 and cfg.until == 1.0 and cfg.min_entropy == 0.0 and cfg.inner_steps == 3


def test_target_paths_shorten_to_the_class_name_in_identities_and_to_the_option_in_tables() -> None:
    from entrgi.analysis.labels import option_name, short_name
    from entrgi.outputs.identity import target_class

    assert (
        target_class("entrgi.engine.models.reward.SequenceClassifierReward.from_pretrained")
        == "SequenceClassifierReward"
    )
    assert target_class("entrgi.judges.oracle.OracleJudge") == "OracleJudge"
    skywork = "entrgi.engine.models.reward.SequenceClassifierReward.from_pretrained"
    assert option_name("reward._target_", skywork, {"reward": "skywork_v2_qwen3_4b"}) == "skywork_v2_qwen3_4b"
    assert option_name("reward._target_", skywork, {}) == "sequence_classifier_reward"  # no Hydra choice: 4 yamls
    assert option_name("particles._target_", "entrgi.engine.particles.FKSteering", {}) == "fk"  # one yaml has it
    assert option_name("model._target_", "entrgi.testbed.load_dllm", {}) == "testbed"
    assert option_name("guidance.lr", 0.5, {}) == "0.5"
    assert short_name("data.source._target_") == "data" and short_name("reward._target_") == "reward"
