"""The out-of-tree worked examples of docs/ARCHITECTURE.md run as written: a weight policy, a particle potential
and a post-training objective, each in a module of the user's own with one yaml in a folder on
``hydra.searchpath``, with no change to entrgi."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from entrgi.engine.guidance import GradientGuidance
from entrgi.pipeline import phases as pipeline

DOC = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"
MODULES = ("my_policies", "my_potentials", "my_objectives")


def example_files() -> dict[str, str]:
    """The doc's fenced blocks whose first line names a file (``# my_policies.py``): path -> text."""
    blocks = re.findall(r"```(?:python|yaml)\n# (\S+)\n(.*?)```", DOC.read_text(), flags=re.S)
    return {path: text for path, text in blocks}


@pytest.fixture
def user_folder(tmp_path, monkeypatch) -> Path:
    """The user's folder: the example's files written as the doc shows them, its module importable."""
    files = example_files()
    assert set(files) == {
        "my_policies.py",
        "my_conf/guidance/sqrt_entropy.yaml",
        "my_potentials.py",
        "my_conf/particles/fk_softplus.yaml",
        "my_objectives.py",
        "my_conf/objective/softmax_weighted.yaml",
    }, set(files)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield tmp_path
    for name in MODULES:
        sys.modules.pop(name, None)


def compose_with(folder: Path, overrides: list[str], config: str = "run", option: str = "guidance=sqrt_entropy"):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose(config, [f"hydra.searchpath=[file://{folder / 'my_conf'}]", option, *overrides])


def test_the_policy_composes_and_instantiates(user_folder):
    cfg = compose_with(user_folder, ["paths.output_dir=x"])
    assert cfg.guidance.inner_steps == 3 and cfg.guidance.lr == 0.5  # the shared base's keys came along
    guidance = instantiate(cfg.guidance)
    assert isinstance(guidance, GradientGuidance) and type(guidance.weight).__module__ == "my_policies"
    assert guidance.method == "w=sqrt_entropy" and guidance.name == "w=sqrt_entropy(M=3,eta=0.5)"
    h = torch.tensor([0.0, 0.25, 1.0])
    assert torch.equal(guidance.weight(h), torch.tensor([0.0, 0.5, 1.0]))


def test_the_policy_runs_through_the_pipeline(user_folder, tmp_path):
    out = tmp_path / "run"
    overrides = [
        "logger=none",
        "data.limit=1",
        "samples_per_prompt=2",
        "schedule.steps=2",
        "schedule.max_new_tokens=4",
        "save_entropy_maps=false",
        f"paths.output_dir={out}",
    ]
    metrics = pipeline.run(compose_with(user_folder, overrides))
    assert metrics["num_prompts"] == 1 and metrics["method"] == "w=sqrt_entropy"
    assert metrics["guidance"] == "w=sqrt_entropy(M=3,eta=0.5)"


def test_the_potential_steers_particles_through_the_pipeline(user_folder, tmp_path):
    overrides = ["logger=none", "data.limit=1", "samples_per_prompt=2", "schedule.steps=2"]
    overrides += ["schedule.max_new_tokens=4", "save_entropy_maps=false", f"paths.output_dir={tmp_path / 'run'}"]
    cfg = compose_with(user_folder, [*overrides, "guidance=bon"], option="particles=fk_softplus")
    assert cfg.particles.lam == 1.0 and cfg.particles.every == 4  # fk's keys came along
    particles = instantiate(cfg.particles)
    assert type(particles.potential).__module__ == "my_potentials"
    r, prev = torch.tensor([1.0, -1.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    assert torch.allclose(particles.potential(2.0, r, prev), 2 * torch.nn.functional.softplus(r))
    metrics = pipeline.run(cfg)
    assert metrics["num_prompts"] == 1 and metrics["method"] == "bon"


def test_the_objective_composes_and_passes_the_posttrain_checks(user_folder):
    from entrgi.pipeline.posttrain import job

    cfg = compose_with(user_folder, ["paths.output_dir=x"], config="posttrain", option="objective=softmax_weighted")
    job.check_posttrain_config(cfg)  # every key checked before any model loads
    loss = instantiate(cfg.objective.loss)
    assert type(loss).__module__ == "my_objectives" and cfg.objective.estimator == "one_step"
    w = loss.weights(torch.tensor([[0.0, 1.0], [2.0, 2.0]]))
    assert torch.allclose(w.sum(1), torch.ones(2)) and w[0, 1] > w[0, 0] and torch.allclose(w[1], torch.full((2,), 0.5))
