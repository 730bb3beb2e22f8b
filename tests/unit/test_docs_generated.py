"""README and docs show the generated reports, never a hand copy: every ``<!-- include: FILE#answer -->`` block is
that file's first screen as ``python -m entrgi.report`` wrote it (bench/quality/include.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _include():
    spec = importlib.util.spec_from_file_location("include", ROOT / "bench" / "quality" / "include.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_included_report_block_equals_its_source():
    include = _include()
    blocks = [m for t in include.TARGETS for m in include.BLOCK.finditer((ROOT / t).read_text())]
    assert blocks, "README or docs/results.md should include a generated report"
    assert include.stale() == []


def test_a_hand_edit_inside_a_block_is_caught(tmp_path):
    include = _include()
    source = tmp_path / "r.md"
    report = ["# Report: x", "", "constants", "", "## Answer", "", "| a |", "|---|", "| 1.0 |", "", "- finding"]
    source.write_text("\n".join([*report, "", "## Notes", "", "- n", ""]))
    include.ROOT = tmp_path
    page = "text\n<!-- include: r.md#answer -->\n\nstale\n\n<!-- end include -->\nmore\n"
    rendered = include.render(page)
    assert rendered != page and "| 1.0 |" in rendered and "- finding" in rendered and "## Notes" not in rendered
    assert include.render(rendered) == rendered  # a block equal to its source stays as it is


def test_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
