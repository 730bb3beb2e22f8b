"""The out-of-tree worked example of docs/ARCHITECTURE.md runs as written: a weight policy in a module of
the user's own and one yaml in a folder on ``hydra.searchpath``, with no change to entrgi."""

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


def example_files() -> dict[str, str]:
    """The doc's fenced blocks whose first line names a file (``# my_policies.py``): path -> text."""
    blocks = re.findall(r"```(?:python|yaml)\n# (\S+)\n(.*?)```", DOC.read_text(), flags=re.S)
    return {path: text for path, text in blocks}


@pytest.fixture
def user_folder(tmp_path, monkeypatch) -> Path:
    """The user's folder: the example's files written as the doc shows them, its module importable."""
    files = example_files()
    assert set(files) == {"my_policies.py", "my_conf/guidance/sqrt_entropy.yaml"}, set(files)
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_policies", raising=False)
    yield tmp_path
    sys.modules.pop("my_policies", None)


def compose_with(folder: Path, overrides: list[str]):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose("run", [f"hydra.searchpath=[file://{folder / 'my_conf'}]", "guidance=sqrt_entropy", *overrides])


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
