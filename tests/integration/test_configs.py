"""Every experiment composes and its parts instantiate; the install finds its configs."""

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from entrgi.guidance import Guidance
from entrgi.schedule import DenoisingSchedule

EXPERIMENTS = sorted(
    p.stem for p in (resources.files("entrgi.conf") / "experiment").iterdir() if p.name.endswith(".yaml")
)
REPO = Path(__file__).resolve().parents[2]


def compose_run(overrides):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", overrides=overrides)


def test_experiments_found():
    assert {"smoke", "paper_main", "ablation_entropy"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_instantiates(name, tmp_path):
    cfg = compose_run([f"+experiment={name}", f"paths.output_dir={tmp_path}"])
    assert isinstance(instantiate(cfg.schedule), DenoisingSchedule)
    assert isinstance(instantiate(cfg.guidance), Guidance)
    source_kwargs = {k: v for k, v in cfg.data.items() if k not in ("batch_size", "judge")}
    instantiate(OmegaConf.create(source_kwargs))  # constructor validates, loads nothing
    trainer_cfg = OmegaConf.to_container(cfg.trainer)
    assert trainer_cfg["inference_mode"] is False
    OmegaConf.to_yaml(cfg, resolve=True)  # every interpolation resolves
    assert cfg.model._target_ and cfg.reward._target_


def test_paper_main_matches_reference():
    cfg = compose_run(["+experiment=paper_main", "paths.output_dir=x"])
    assert cfg.model.path == "Dream-org/Dream-v0-Instruct-7B"
    assert cfg.reward.path == "Skywork/Skywork-Reward-V2-Qwen3-1.7B"
    assert (cfg.samples_per_prompt, cfg.schedule.steps, cfg.schedule.max_new_tokens) == (4, 128, 128)
    assert (cfg.guidance.inner_steps, cfg.guidance.lr, cfg.guidance.weight) == (3, 0.5, "entropy")
    assert (cfg.schedule.temperature, cfg.schedule.top_p, cfg.schedule.top_k) == (0.7, 0.95, None)
    assert (cfg.schedule.alg, cfg.schedule.eos_deprioritize, cfg.data.limit, cfg.data.batch_size) == (
        "entropy",
        True,
        64,
        4,
    )
    assert cfg.guidance.track_final_reward is False  # the trace's extra reward forward is off at paper scale
    for method in ["bon", "expectation", "aps", "entrgi"]:  # every method composes with the experiment
        other = compose_run(["+experiment=paper_main", f"guidance={method}", "paths.output_dir=x"])
        assert instantiate(other.guidance).track_final_reward is False


@pytest.mark.parametrize(
    "group, options",
    [
        ("model", ["testbed", "dream_7b", "llada_8b"]),
        (
            "reward",
            [
                "testbed",
                "skywork_v2_qwen3_0_6b",
                "skywork_v2_qwen3_1_7b",
                "skywork_v2_qwen3_4b",
                "skywork_v2_llama_3_1_8b",
            ],
        ),
        ("guidance", ["bon", "expectation", "aps", "entrgi"]),
        ("data", ["testbed", "rm_bench", "judgebench", "reward_bench_2"]),
        ("trainer", ["cpu", "gpu", "ddp"]),
        ("logger", ["wandb", "none"]),
    ],
)
def test_every_option_composes(group, options):
    for option in options:
        compose_run([f"{group}={option}", "paths.output_dir=x"])


def test_slurm_launcher_composes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        cfg = compose(
            "run", overrides=["launcher=slurm", "trainer=ddp", "paths.output_dir=x"], return_hydra_config=True
        )
    assert "SlurmLauncher" in cfg.hydra.launcher._target_
    assert cfg.hydra.launcher.gpus_per_node == 4


@pytest.mark.slow
def test_non_editable_install_finds_configs(tmp_path):
    """`pip install .` (a wheel, not editable) ships conf/ as entrgi.conf."""
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "--target",
            str(target),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "entrgi" / "conf" / "run.yaml").exists()
    assert (target / "entrgi" / "conf" / "experiment" / "paper_main.yaml").exists()
    code = (
        "import entrgi, sys; assert entrgi.__file__.startswith(sys.argv[1]), entrgi.__file__;"
        "from hydra import compose, initialize_config_module;"
        "initialize_config_module('entrgi.conf', version_base='1.3').__enter__();"
        "print(compose('run', overrides=['+experiment=paper_main']).model.path)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "Dream-org/Dream-v0-Instruct-7B"
