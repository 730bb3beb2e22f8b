"""Every experiment composes and its parts instantiate; the install finds its configs."""

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from entrgi.data import PromptSource, TestbedPromptSource
from entrgi.engine.guidance import Guidance
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.pipeline.preflight import check_config

EXPERIMENTS = sorted(
    p.stem for p in (resources.files("entrgi.conf") / "experiment").iterdir() if p.name.endswith(".yaml")
)


def primary_config(name: str) -> str:
    """``posttrain`` for the experiments of ``python -m entrgi.posttrain`` (their first comment lines say so),
    else ``run``."""
    head = (resources.files("entrgi.conf") / "experiment" / f"{name}.yaml").read_text().splitlines()[:3]
    return "posttrain" if any("python -m entrgi.posttrain" in line for line in head) else "run"


REPO = Path(__file__).resolve().parents[2]
TRAINERS = ["cpu", "gpu", "ddp"]


def compose_run(overrides):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", overrides=overrides)


def test_experiments_found():
    assert {"smoke", "paper_main", "ablation_entropy"} <= set(EXPERIMENTS)
    assert {primary_config(name) for name in ("rgrl", "posttrain_testbed")} == {"posttrain"}
    assert primary_config("paper_main") == "run"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_instantiates(name, tmp_path):
    overrides = [f"+experiment={name}", f"paths.output_dir={tmp_path}"]
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        cfg = compose(primary_config(name), overrides=overrides)
        if OmegaConf.is_missing(cfg.data, "path"):  # an experiment on the user's own prompts (+experiment=rgrl)
            (tmp_path / "prompts.jsonl").write_text('{"id": "a", "prompt": "hello"}\n')
            cfg = compose(primary_config(name), overrides=[*overrides, f"data.path={tmp_path / 'prompts.jsonl'}"])
    assert isinstance(instantiate(cfg.schedule), DenoisingSchedule)
    assert isinstance(instantiate(cfg.guidance), Guidance)
    source = instantiate(cfg.data.source)  # as it is: the constructor validates, loads nothing
    assert isinstance(source, (PromptSource, TestbedPromptSource)) and source.limit == cfg.data.limit
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


def options(group: str) -> list[str]:
    """Every option file of a config group (the shared bases sit outside the groups: conf/_base_*.yaml)."""
    return sorted(p.stem for p in (REPO / "conf" / group).glob("*.yaml"))


@pytest.mark.parametrize(
    "group, known",
    [
        ("model", {"testbed", "dream_7b", "llada_8b"}),
        (
            "reward",
            {
                "testbed",
                "skywork_v2_qwen3_0_6b",
                "skywork_v2_qwen3_1_7b",
                "skywork_v2_qwen3_4b",
                "skywork_v2_llama_3_1_8b",
                "causal_lm_loglik",
            },
        ),
        ("guidance", {"bon", "expectation", "aps", "entrgi"}),
        ("schedule", {"testbed", "paper", "fast"}),
        ("data", {"testbed", "rm_bench", "judgebench", "reward_bench_2", "jsonl"}),
        ("judge", {"none", "oracle", "reward_model", "lmunit"}),
        ("trainer", set(TRAINERS)),
        ("logger", {"wandb", "none"}),
    ],
)
def test_every_option_composes(group, known):
    found = options(group)
    assert known <= set(found), f"conf/{group} lost options: {known - set(found)}"
    for option in found:  # a new option file is composed with no change here
        compose_run([f"{group}={option}", "paths.output_dir=x"])


@pytest.mark.parametrize(
    "option, path, split, prompt_field, id_field, subset_field",
    [
        ("rm_bench", "THU-KEG/RM-Bench", "train", "prompt", "id", None),
        ("judgebench", "ScalerLab/JudgeBench", "gpt", "question", "pair_id", None),
        ("reward_bench_2", "allenai/reward-bench-2", "test", "prompt", "id", "subset"),
    ],
)
def test_hub_options_build_their_source(option, path, split, prompt_field, id_field, subset_field):
    cfg = compose_run([f"data={option}", "data.limit=8", "data.batch_size=2", "seed=3", "paths.output_dir=x"])
    source = instantiate(cfg.data.source)
    assert isinstance(source, PromptSource)
    assert (source.path, source.split, source.prompt_field, source.id_field, source.subset_field) == (
        path,
        split,
        prompt_field,
        id_field,
        subset_field,
    )
    assert (source.limit, source.shuffle_seed, source.on_invalid, cfg.data.batch_size) == (8, 3, "skip", 2)


def test_jsonl_reads_the_file_data_path_names(tmp_path):
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(f'{{"q": "prompt {i}", "uid": "u{i}"}}\n' for i in range(4)))
    overrides = ["data=jsonl", f"data.path={data}", "data.prompt_field=q", "data.id_field=uid", "paths.output_dir=x"]
    cfg = compose_run([*overrides, "data.limit=3", "seed=5"])
    source = instantiate(cfg.data.source)
    assert isinstance(source, PromptSource) and (source.path, source.shuffle_seed) == (str(data), None)  # file order
    loaded = source.load()
    assert [(it.sample_id, it.prompt) for it in loaded.items] == [(f"u{i}", f"prompt {i}") for i in range(3)]
    assert instantiate(compose_run(overrides).data.source).limit is None  # all rows by default
    unset = compose_run(["data=jsonl", "paths.output_dir=x"])
    with pytest.raises(ValueError, match=r"data\.path is required"):
        check_config(unset)  # before any model loads


def test_testbed_source_follows_the_run_seed_and_limit():
    cfg = compose_run(["data.limit=5", "seed=7", "paths.output_dir=x"])
    source = instantiate(cfg.data.source)
    assert isinstance(source, TestbedPromptSource) and (source.limit, source.seed) == (5, 7)
    assert cfg.judge._target_.endswith("OracleJudge")  # data=testbed picks the oracle judge


def test_trainer_options_share_one_base():
    nodes = {t: OmegaConf.to_container(compose_run([f"trainer={t}", "paths.output_dir=x"]).trainer) for t in TRAINERS}
    assert nodes["gpu"] == nodes["cpu"] | {"accelerator": "gpu"}
    assert nodes["ddp"] == nodes["cpu"] | {"accelerator": "gpu", "devices": 4, "strategy": "ddp"}
    assert nodes["cpu"]["accelerator"] == "cpu" and nodes["cpu"]["inference_mode"] is False


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
