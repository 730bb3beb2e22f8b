"""A new guidance method is one class and one yaml: nothing in src/ changes.

``ToyGuidance`` (``tests/toy_guidance.py``, a module outside src/ and the package) is the whole method.
The test writes its one yaml into a config folder of its own, adds that folder to Hydra's search path
(``hydra.searchpath``, as a user would on the command line) and runs the testbed pipeline with
``guidance=toy``: the run finishes, the toy's statistic ``bias_applied`` is in every record's trace and
in the W&B curves, and the generations show the bias.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from toy_guidance import ToyGuidance
from transformers import AutoTokenizer

from entrgi.pipeline import phases as pipeline
from entrgi.testbed import ASSETS

WORD = "happy"  # one token of the testbed vocabulary
TOY_MODULE_DIR = Path(__file__).resolve().parents[1]  # tests/: the folder of toy_guidance.py


def toy_yaml(folder: Path, token_id: int, bias: float) -> Path:
    """The method's one yaml, in a config folder of the test's own (``<folder>/guidance/toy.yaml``)."""
    (folder / "guidance").mkdir(parents=True, exist_ok=True)
    (folder / "guidance" / "toy.yaml").write_text(
        f"# A toy: a constant logit bias toward one token.\n"
        f"_target_: {ToyGuidance.__module__}.ToyGuidance\ntoken_id: {token_id}\nbias: {bias}\n"
    )
    return folder


def run(conf: Path, out: Path, guidance: str, logger: str) -> tuple[list[dict], dict]:
    overrides = [
        f"hydra.searchpath=[file://{conf}]",
        f"guidance={guidance}",
        f"logger={logger}",
        "data.limit=3",
        "data.batch_size=3",
        "samples_per_prompt=2",
        "schedule.steps=8",
        "schedule.max_new_tokens=8",
        "save_entropy_maps=false",
        "seed=3",
        f"paths.output_dir={out}",
    ]
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        metrics = pipeline.run(compose("run", overrides))
    records = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    return records, metrics


def count(records: list[dict]) -> int:
    return sum(response.split().count(WORD) for r in records for response in r["responses"])


@pytest.fixture(scope="module")
def token_id() -> int:
    return AutoTokenizer.from_pretrained(ASSETS / "dllm").convert_tokens_to_ids(WORD)


def test_a_toy_method_is_one_class_and_one_yaml(tmp_path, token_id, monkeypatch):
    from wandb_reader import summarize_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    conf = toy_yaml(tmp_path / "conf", token_id, bias=12.0)  # the testbed dLLM is confident: a strong bias
    records, metrics = run(conf, tmp_path / "toy", "toy", "wandb")
    bon, _ = run(conf, tmp_path / "bon", "bon", "none")
    assert metrics["num_prompts"] == len(records) == 3 and metrics["method"] == "toy"  # records group by method
    assert metrics["guidance"] == f"toy(token={token_id},bias=12)" and metrics["run"]["method"] == "toy"
    assert [r["sample_id"] for r in records] == [r["sample_id"] for r in bon]
    for r in records:
        assert r["method"] == "toy" and len(r["responses"]) == 2
        applied = r["trace"]["bias_applied"]  # mean over K of the masked positions biased, per step
        assert len(applied) == 8 and applied[0] == 8 and applied[-1] >= 1
        assert all(a >= b for a, b in zip(applied, applied[1:], strict=False))  # fewer masked positions each step
        assert r["trace"]["guided"] == [1.0] * 8 and "w_mean" not in r["trace"]
    assert "bias_applied" not in bon[0]["trace"]
    assert count(records) >= count(bon) + 12, (count(records), count(bon))  # the bias shows in the text (18 vs 0)
    # the statistic reached W&B as a per-step curve with no code change
    (run_file,) = (tmp_path / "toy").glob("wandb/offline-run-*/run-*.wandb")
    curves = [row for row in summarize_run(run_file)["history_rows"] if "denoise/bias_applied" in row]
    assert [json.loads(row["denoise/step"]) for row in curves] == list(range(8))
    assert json.loads(curves[0]["denoise/bias_applied"]) == 8


def test_the_toy_biases_only_masked_positions():
    """The class alone, on a hand-made step: only active rows gain ``bias`` at ``token_id``."""
    from entrgi.engine.positions import StepPositions

    logits = torch.zeros(2, 3, 5)
    masked = torch.tensor([[True, False, True], [False, False, False]])
    at = StepPositions.every(0, torch.zeros(2, dtype=torch.long), masked)
    phi, stats = ToyGuidance(token_id=4, bias=2.0).optimize(logits.clone(), None, None, None, at)
    expected = torch.zeros(2, 3, 5)
    expected[0, [0, 2], 4] = 2.0
    assert torch.equal(phi, expected) and stats["bias_applied"].tolist() == [2.0, 0.0]


@pytest.mark.slow
def test_the_toy_from_the_command_line(tmp_path, token_id):
    """The user's way: ``python -m entrgi.run hydra.searchpath=[file://<folder>] guidance=toy`` with the
    class's module (tests/toy_guidance.py) on PYTHONPATH."""
    from cli_runs import read_run, run_cli

    conf = toy_yaml(tmp_path / "conf", token_id, bias=12.0)
    args = [f"hydra.searchpath=[file://{conf}]", "guidance=toy", "+experiment=smoke", "logger=none"]
    out = tmp_path / "out"
    run_cli([*args, f"paths.output_dir={out}"], cwd=tmp_path, env_extra={"PYTHONPATH": str(TOY_MODULE_DIR)})
    records, metrics = read_run(out)
    assert metrics["method"] == "toy" and metrics["guidance"] == f"toy(token={token_id},bias=12)"
    assert all(r["trace"]["bias_applied"][0] == 16 for r in records)  # smoke: 16 masked positions at step 0
