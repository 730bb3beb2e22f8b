"""The quickstart notebook runs top to bottom against the installed package (no Jupyter needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_code_cells_run(tmp_path, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    assert cells
    namespace: dict = {}
    for cell in cells:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        exec(compile(source, f"{NOTEBOOK.name}", "exec"), namespace)  # noqa: S102
    assert (tmp_path / "outputs" / "notebook" / "generations.jsonl").is_file()
    printed = capsys.readouterr().out
    assert "bon" in printed and "entrgi" in printed
