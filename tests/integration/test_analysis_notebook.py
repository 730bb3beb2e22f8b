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


@pytest.mark.slow
def test_analysis_notebook_code_cells_run(tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    make_sweep(Path("tmp/sweep"))
    monkeypatch.setenv("ENTRGI_SWEEP", "tmp/sweep")
    capsys.readouterr()
    namespace: dict = {}
    for cell in [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]:
        exec(compile("".join(cell["source"]), NOTEBOOK.name, "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out
    assert "4 runs in 2 groups from tmp/sweep" in printed
    assert "Grouped by: method; averaged over seeds 1, 2" in printed
    assert "| bon | 2 |" in printed and "| entrgi | 2 |" in printed and "win-rate vs bon" in printed
    rep = namespace["rep"]
    entrgi = next(r for r in rep.rows if r["method"] == "entrgi")
    assert entrgi["win_pairs"] == 8  # 4 prompts x 2 seeds, paired with BoN
    assert 0.0 <= entrgi["win_rate_low"] <= entrgi["win_rate"] <= entrgi["win_rate_high"] <= 1.0
    assert len(namespace["frontier"].axes) == 4
    heatmap_panels = [ax for ax in namespace["heatmap"].axes if ax.images]
    assert len(heatmap_panels) == 2  # one per group, both saved entropy maps
