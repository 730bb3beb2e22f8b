"""The training recipes (``python -m entrgi.train train=dllm|reward``) on tiny configs, CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_module

from entrgi.testbed import load_dllm, load_reward
from entrgi.train import train

TINY = {
    "dllm": [
        "module.hidden_size=32",
        "module.num_hidden_layers=1",
        "module.intermediate_size=64",
        "data.num_pairs=640",
        "data.val_pairs=64",
        "batch_size=32",
        "lr=3e-3",
    ],
    "reward": [
        "module.hidden_size=32",
        "module.num_hidden_layers=1",
        "module.head_dim=8",
        "module.intermediate_size=64",
        "data.num_groups=160",
        "data.val_pairs=64",
        "batch_size=8",
        "lr=3e-3",
    ],
}


def compose_train(recipe: str, overrides: list[str]):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("train", overrides=[f"train={recipe}", *overrides])


@pytest.mark.parametrize("recipe", ["dllm", "reward"])
def test_recipe_config_is_complete(recipe):
    cfg = compose_train(recipe, [])
    assert cfg.name == recipe and cfg.output_dir is None
    assert cfg.module.lr == cfg.lr and cfg.data.batch_size == cfg.batch_size and cfg.data.seed == cfg.seed
    assert cfg.trainer.accelerator == "cpu" and cfg.trainer.max_steps == cfg.max_steps


@pytest.mark.parametrize("recipe, loader", [("dllm", load_dllm), ("reward", load_reward)])
def test_twenty_steps_lower_the_validation_loss_and_save_a_loadable_model(recipe, loader, tmp_path):
    cfg = compose_train(
        recipe, [*TINY[recipe], "max_steps=20", f"output_dir={tmp_path}", "trainer.enable_progress_bar=false"]
    )
    result = train(cfg)
    assert result.steps == 20
    assert result.after["val/loss"] < result.before["val/loss"]
    summary = json.loads((tmp_path / "training.json").read_text())
    assert summary["recipe"] == recipe and summary["after"] == result.after
    assert summary["config"]["max_steps"] == 20
    loaded = loader(tmp_path)
    assert loaded.tokenizer.chat_template is not None


def test_same_seed_same_weights(tmp_path):
    """Each model is reproducible from one command: two runs with one seed give identical weights."""
    from safetensors.torch import load_file

    weights = []
    for run in ("a", "b"):
        out = tmp_path / run
        train(
            compose_train(
                "dllm", [*TINY["dllm"], "max_steps=5", f"output_dir={out}", "trainer.enable_progress_bar=false"]
            )
        )
        weights.append(load_file(out / "model.safetensors"))
    assert weights[0].keys() == weights[1].keys()
    assert all((weights[0][k] == weights[1][k]).all() for k in weights[0])


@pytest.mark.parametrize(
    "override, key",
    [
        ("max_steps=-1", "max_steps"),
        ("max_steps=0", "max_steps"),
        ("batch_size=0", "batch_size"),
        ("lr=abc", "lr"),
        ("lr=-1e-3", "lr"),
        ("seed=1.5", "seed"),
    ],
)
def test_bad_values_fail_before_training_naming_the_key(override, key, tmp_path):
    cfg = compose_train("reward", [override, f"output_dir={tmp_path}"])
    with pytest.raises(ValueError, match=rf"^{key} must be"):
        train(cfg)
    assert not any(tmp_path.iterdir())  # nothing built, nothing written


@pytest.mark.slow
def test_command_line_trains_and_writes_the_checkpoint(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    args = [
        sys.executable,
        "-m",
        "entrgi.train",
        "train=reward",
        *TINY["reward"],
        "max_steps=3",
        f"output_dir={tmp_path / 'rm'}",
        "trainer.enable_progress_bar=false",
    ]
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trained reward for 3 steps" in proc.stdout
    assert (tmp_path / "rm" / "model.safetensors").is_file()
    assert any((tmp_path / "outputs" / "train" / "reward").iterdir())  # Hydra's run folder, cwd-relative
