"""resume=true of a post-training run keeps the settings that shape training; an adapter is part of a
run's identity; old run folders (written before the adapter keys existed) still resume."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from entrgi.outputs.identity import run_identity
from entrgi.outputs.settings import write_config
from entrgi.pipeline.resume import check_training_config, config_differences


def _compose(tmp_path, *overrides):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("posttrain", overrides=[f"paths.output_dir={tmp_path}", *overrides])


def test_resume_refuses_changed_training_keys_and_allows_the_rest(tmp_path):
    cfg = _compose(tmp_path)
    write_config(tmp_path, OmegaConf.to_yaml(cfg, resolve=True))
    check_training_config(tmp_path, _compose(tmp_path, "resume=true", "posttrain.checkpoint_every=5", "logger=none"))
    for override, key in (
        ("posttrain.lr=0.5", "posttrain.lr"),
        ("posttrain.max_steps=60", "posttrain.max_steps"),
        ("objective=bon_sft", "objective.loss._target_"),
        ("lora.r=4", "lora.r"),
        ("seed=7", "seed"),
    ):
        with pytest.raises(ValueError, match=rf"resume=true refused.*{key}"):
            check_training_config(tmp_path, _compose(tmp_path, "resume=true", override))


def test_an_adapter_is_part_of_the_run_identity():
    base = {"model": {"_target_": "entrgi.testbed.load_dllm", "path": None}, "seed": 1}
    adapted = {"model": base["model"] | {"adapter": "/runs/a/adapter"}, "seed": 1}
    assert "adapter" not in run_identity(base, "bon")
    assert run_identity(adapted, "bon")["adapter"] == "/runs/a/adapter"


def test_a_folder_from_before_the_adapter_keys_resumes():
    old = {"model": {"_target_": "entrgi.testbed.load_dllm", "path": None, "dtype": "float32"}, "seed": 1}
    new = {"model": old["model"] | {"adapter": None, "quantization": None, "lora_target_modules": ["qkv"]}, "seed": 1}
    assert config_differences(old, new) == {}
    assert "model.adapter" in config_differences(old, {"model": new["model"] | {"adapter": "x"}, "seed": 1})
