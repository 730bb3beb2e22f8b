"""The report answers first: a 15-group, 3-seed sweep (the compute frontier's cells, made by hand) gets its
answer table and findings on the first screen, short labels, long tables below, every pair in paired.csv, and the
same numbers as the report before this layout (tests/fixtures/frontier_sweep_report_bf6cc79.csv)."""

import csv
import io
import math
import re
from itertools import combinations
from pathlib import Path

import pytest
from report_runs import FRONTIER_CELLS, write_frontier_sweep

from entrgi import report

BEFORE = Path(__file__).resolve().parents[1] / "fixtures" / "frontier_sweep_report_bf6cc79.csv"
AXES = (
    "method",
    "samples_per_prompt",
    "particles._target_",
    "guidance.every",
    "guidance.until",
    "guidance.min_entropy",
)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = write_frontier_sweep(tmp_path_factory.mktemp("frontier"))
    report.main([str(root), "--no-plots", "--no-wandb"])
    return root


def _csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_the_answer_comes_first_in_a_short_report(sweep):
    lines = (sweep / "report.md").read_text().splitlines()
    assert len(lines) < 150
    first = next(i for i, line in enumerate(lines) if line.startswith("| group |"))
    table = [line for line in lines[first:] if line.startswith("|")]
    table = table[: next(i for i, line in enumerate(table) if not line.startswith("|") or "| metric |" in line)]
    assert first + len(table) + 4 < 40  # the table and the findings after it within the first screen
    head = [c.strip() for c in table[0].strip("|").split("|")]
    assert head == ["group", "K", "FLOPs/prompt", "Top@1", "judge[oracle]", "vs BoN (Top@1, paired)"]
    assert len(head) <= 8 and len(table) == 2 + len(FRONTIER_CELLS)
    findings = [line for line in lines[first + len(table) : 40] if line.startswith("- ")]
    assert findings[0].startswith("- Most Top@1 per FLOP (the Pareto front, by means): `bon K=4`")
    assert findings[1].startswith("- Highest Top@1: `bon+fk K=16` (7.108 ± 0.022). Within noise of it")
    assert any(
        f.startswith("- Against BoN at matched compute (Top@1, paired): above it beyond noise:") for f in findings
    )
    assert "seeds 1, 2, 3" in lines[2] and "4 prompts per run" in lines[2] and "model testbed" in lines[2]


def test_labels_are_short_unique_and_name_no_class(sweep):
    rows = _csv(sweep / "report.csv")
    labels = [r["group"] for r in rows]
    assert len(set(labels)) == len(labels) == len(FRONTIER_CELLS)
    assert {"bon K=4", "bon+fk K=8", "entrgi", "entrgi every=2", "entrgi until=0.5", "expectation+fk"} <= set(labels)
    assert all(len(label) <= 24 for label in labels)
    text = (sweep / "report.md").read_text() + (sweep / "paired.csv").read_text()
    assert not re.search(r"FKSteering|NoParticles|GradientGuidance|NoGuidance|Testbed\w+", text)


def test_paired_csv_holds_every_pair_of_groups(sweep):
    labels = [r["group"] for r in _csv(sweep / "report.csv")]
    paired = _csv(sweep / "paired.csv")
    for metric in ("top1_reward_mean", "judges.oracle.score_mean"):
        got = {frozenset((p["higher"], p["lower"])) for p in paired if p["metric"] == metric}
        assert got == {frozenset(pair) for pair in combinations(labels, 2)}
        assert all(int(p["pairs"]) == 12 for p in paired if p["metric"] == metric)


def test_the_numbers_equal_the_report_before_this_layout(sweep):
    def key(row: dict) -> tuple:
        return tuple(row[a] for a in AXES)

    before = {key(r): r for r in _csv(BEFORE)}
    after = {key(r): r for r in _csv(sweep / "report.csv")}
    assert before.keys() == after.keys()
    fields = [f for f in _csv(BEFORE)[0] if f not in ("group", "bon_group", *AXES)]
    for k, old in before.items():
        new = after[k]
        for f in fields:
            if old[f] in ("", "—") or not re.fullmatch(r"[-+0-9.e]+", old[f]):
                assert new[f] == old[f], (k, f)
            else:
                assert math.isclose(float(new[f]), float(old[f]), rel_tol=1e-12, abs_tol=1e-12), (k, f)


def test_an_equal_cost_sweep_gets_a_ranked_dot_plot(tmp_path):
    from report_runs import write_run

    for i, (method, flops) in enumerate([("bon", 78.0603e9), ("expectation", 78.0620e9), ("entrgi", 78.0611e9)]):
        write_run(tmp_path / str(i), method, 1, [1.0 + i, 2.0], compute=flops)
    rep = report.load(tmp_path)
    fig = rep.plot_frontier()
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel().startswith("Top@1")  # scores, no cost axis
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["bon", "expectation", "entrgi"]  # ranked
    assert "Every group costs the same FLOPs per prompt within 1%" in rep.markdown()


def test_a_paper_main_sweep_puts_the_published_top1_beside_the_measured(tmp_path):
    from report_runs import config, write_run

    i = 0
    for method, top1 in (("bon", 3.0), ("entrgi", 3.5)):
        for seed in (1, 2):
            folder = tmp_path / str(i)
            cfg = config(method, seed, folder, experiment_name="paper_main", **{"data.path": "allenai/reward-bench-2"})
            write_run(folder, method, seed, [top1 + seed / 10, top1 + seed / 10], cfg=cfg)
            i += 1
    md = report.load(tmp_path).markdown()
    assert "## Against the paper (published Top@1, REFERENCE.md)" in md
    assert "| Reward-Bench-2 | bon | 3.15 ± 0.05 (2 seeds) | 2.99 | +0.16 |" in md
    assert "| Reward-Bench-2 | entrgi | 3.65 ± 0.05 (2 seeds) | 3.91 | -0.26 |" in md
    assert "Against the paper" not in report.load(write_frontier_sweep(tmp_path / "testbed")).markdown()
