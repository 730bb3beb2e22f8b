"""+experiment=compute_frontier: every cell composes; a shrunk sweep runs and reports a frontier."""

import csv
from pathlib import Path

import pytest
import yaml
from cli_runs import run_cli
from hydra import compose, initialize_config_module

from entrgi import report

EXPERIMENT = Path(__file__).resolve().parents[2] / "conf" / "experiment" / "compute_frontier.yaml"


def cells() -> list[str]:
    return yaml.safe_load(EXPERIMENT.read_text())["hydra"]["sweeper"]["params"]["frontier"].split(",")


def test_every_cell_composes_to_its_method_and_k():
    expected = {
        "bon_k4": ("NoGuidance", 4),
        "bon_k8": ("NoGuidance", 8),
        "bon_k16": ("NoGuidance", 16),
        "bon_k32": ("NoGuidance", 32),
        "entrgi_k4": ("GradientGuidance", 4),
    }
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        for cell in cells():
            cfg = compose(
                "run", ["+experiment=compute_frontier", f"frontier={cell}", "logger=none", "paths.output_dir=/tmp/x"]
            )
            assert cfg.samples_per_prompt == int(cell.rsplit("_k", 1)[1])
            if cell in expected:
                assert cfg.guidance._target_.endswith(expected[cell][0]) and cfg.samples_per_prompt == expected[cell][1]
            if cell == "entrgi_every2_k4":
                assert cfg.guidance.every == 2 and cfg.guidance.weight == "entropy"
            if cell == "entrgi_until50_k4":
                assert cfg.guidance.until == 0.5
            if cell == "entrgi_minent50_k4":
                assert cfg.guidance.min_entropy == 0.5
            particles = cfg.particles._target_.rsplit(".", 1)[1]
            assert particles == ("FKSteering" if "_fk_" in cell else "NoParticles"), cell
    assert {"bon_k4", "bon_k8", "bon_k16", "bon_k32", "expectation_k4", "aps_k4", "entrgi_k4"} <= set(cells())
    assert {"bon_fk_k4", "bon_fk_k8", "bon_fk_k16", "entrgi_fk_k4", "expectation_fk_k4"} <= set(cells())


@pytest.mark.slow
def test_shrunk_frontier_sweep_reports_a_frontier(tmp_path):
    sweep = tmp_path / "sweep"
    run_cli(
        [
            "+experiment=compute_frontier",
            "frontier=bon_k4,bon_k8,entrgi_k4,entrgi_every2_k4",
            "seed=1",
            "data.limit=2",
            "data.batch_size=2",
            "schedule.steps=4",
            "schedule.max_new_tokens=8",
            "logger=none",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
    )
    assert len(list(sweep.rglob("metrics.json"))) == 4
    table = report.main([str(sweep), "--no-wandb"])
    assert (sweep / "plots" / "frontier.png").stat().st_size > 10_000
    assert "FLOPs" in table
    rows = list(csv.DictReader((sweep / "report.csv").open()))
    assert len(rows) == 4
    flops = [float(r["compute.flops_per_prompt"]) for r in rows]
    assert all(f > 0 for f in flops) and len(set(flops)) == 4
