"""particles=fk from the config with every guidance method: records carry the ancestry, the identity
and the compute count the potentials, and resume refuses a particle setting change."""

import pytest
from cli_runs import read_run
from hydra import compose, initialize_config_module

from entrgi.pipeline import phases as pipeline
from entrgi.pipeline.resume import config_differences, generation_keys

TINY = [
    "paths.output_dir=/tmp/unused",
    "schedule.steps=4",
    "schedule.max_new_tokens=6",
    "samples_per_prompt=2",
    "data.limit=2",
    "logger=none",
]


def compose_run(overrides):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", overrides=overrides)


@pytest.mark.parametrize("guidance", ["bon", "entrgi", "expectation", "aps"])
def test_particles_run_with_every_guidance(tmp_path, guidance):
    overrides = [*TINY, f"guidance={guidance}", "particles=fk", "particles.every=2", f"paths.output_dir={tmp_path}"]
    if guidance != "bon":
        overrides.append("guidance.inner_steps=1")
    metrics = pipeline.run(compose_run(overrides))
    records, _ = read_run(tmp_path)
    assert all(r["ancestry"]["steps"] == [1, 3] and len(r["ancestry"]["parents"][0]) == 2 for r in records)
    assert all(len(r["trace"]["ess"]) == 4 and "ancestor" not in r["trace"] for r in records)
    assert metrics["run"]["particles"] == "FKSteering" and metrics["run"]["particles.every"] == 2
    assert metrics["compute"]["reward_forwards"] > (0 if guidance == "bon" else 8)  # the potentials' passes


def test_particles_none_keeps_the_identity_and_resume_treats_old_folders_as_none():
    none = compose_run(TINY)
    fk = compose_run([*TINY, "particles=fk"])
    from omegaconf import OmegaConf

    saved = OmegaConf.to_container(none, resolve=True)
    saved.pop("particles")  # a folder written before particles existed
    assert generation_keys(saved)["particles._target_"] == "NoParticles"
    assert config_differences(saved, OmegaConf.to_container(none, resolve=True)) == {}
    assert "particles._target_" in config_differences(saved, OmegaConf.to_container(fk, resolve=True))
