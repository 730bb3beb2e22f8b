"""The analysis notebook reads a real (tiny) sweep through the report API, top to bottom (no Jupyter needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "analysis.ipynb"


def test_analysis_notebook_is_stripped():
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert "ENTRGI_SWEEP" in "".join(code[0]["source"])


def make_sweep(root: Path) -> None:
    """BoN and EntRGi x seeds 1, 2 with the smoke experiment, as ``python -m entrgi.run -m`` would lay them out."""
    from hydra import compose, initialize_config_module

    from entrgi.pipeline import phases as pipeline

    runs = [(method, seed) for method in ("bon", "entrgi") for seed in (1, 2)]
    for i, (method, seed) in enumerate(runs):
        with initialize_config_module("entrgi.conf", version_base="1.3"):
            cfg = compose(
                "run",
                overrides=[
                    "+experiment=smoke",
                    "logger=none",
                    f"guidance={method}",
                    f"seed={seed}",
                    "save_entropy_maps=true",
                    f"paths.output_dir={root / str(i)}",
                ],
            )
        pipeline.run(cfg)


SWEEP = "multirun/2025-01-01/00-00-00"  # where `python -m entrgi.run -m` puts a sweep, under the repository root


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A folder laid out as the repository (pyproject.toml, notebooks/) holding one sweep in multirun/."""
    root = tmp_path_factory.mktemp("repo")
    (root / "pyproject.toml").write_text('[project]\nname = "entrgi"\n')
    (root / "notebooks").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setenv("WANDB_MODE", "disabled")
        make_sweep(root / SWEEP)
    return root


def run_cells(capsys) -> tuple[dict, str]:
    import matplotlib

    matplotlib.use("Agg")
    capsys.readouterr()
    namespace: dict = {}
    for cell in [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]:
        exec(compile("".join(cell["source"]), NOTEBOOK.name, "exec"), namespace)  # noqa: S102
    return namespace, capsys.readouterr().out


@pytest.mark.slow
def test_analysis_notebook_code_cells_run(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("ENTRGI_SWEEP", SWEEP)
    namespace, printed = run_cells(capsys)
    assert f"4 runs in 2 groups from {SWEEP}" in printed
    assert "Grouped by: method; averaged over seeds 1, 2" in printed
    assert "| bon | 2 |" in printed and "| entrgi | 2 |" in printed and "win-rate vs bon" in printed
    rep = namespace["rep"]
    entrgi = next(r for r in rep.rows if r["method"] == "entrgi")
    assert entrgi["win_pairs"] == 8  # 4 prompts x 2 seeds, paired with BoN
    assert 0.0 <= entrgi["win_rate_low"] <= entrgi["win_rate"] <= entrgi["win_rate_high"] <= 1.0
    assert len(namespace["frontier"].axes) == 4
    heatmap_panels = [ax for ax in namespace["heatmap"].axes if ax.images]
    assert len(heatmap_panels) == 2  # one per group, both saved entropy maps


@pytest.mark.slow
def test_analysis_notebook_finds_the_newest_sweep_from_the_notebooks_folder(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo / "notebooks")  # Jupyter's working directory for notebooks/analysis.ipynb
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.delenv("ENTRGI_SWEEP", raising=False)
    namespace, printed = run_cells(capsys)
    assert f"4 runs in 2 groups from {repo / SWEEP}" in printed
    assert len(namespace["rep"].rows) == 2
