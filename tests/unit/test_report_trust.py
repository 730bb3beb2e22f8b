"""Numbers of ``python -m entrgi.report`` a reader can trust: near-equal costs on the Pareto front, paired
differences and orderings within noise, why a cell is blank, CPU time and the machine's load beside wall time."""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from report_runs import config, write_method_sweep, write_run

from entrgi import report

OLD_RUN = Path(__file__).resolve().parents[1] / "fixtures" / "run_5efa032"
# EntRGi's padding makes it 0.002% cheaper than Expectation, which scores higher on Top@1 and the judge
BON_K4, EXPECTATION, ENTRGI = 19_634_413_568, 78_334_545_792, 78_332_771_456


def _set_metrics(folder: Path, **keys) -> None:
    path = folder / "metrics.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | keys))


def _sweep(root: Path, groups: dict[str, dict[int, list[float]]], flops: dict[str, float] | None = None) -> Path:
    """One run per (method, seed) with the given per-prompt Top@1 rewards."""
    i = 0
    for method, by_seed in groups.items():
        for seed, top1s in by_seed.items():
            write_run(root / str(i), method, seed, top1s, compute=(flops or {}).get(method, 1e9))
            i += 1
    return root


def _line(md: str, start: str) -> str:
    return next(line for line in md.splitlines() if line.startswith(start))


def test_a_near_equal_cost_does_not_put_the_worse_method_on_the_front(tmp_path):
    _sweep(
        tmp_path,
        {
            "bon": {1: [5.7, 5.6], 2: [5.7, 5.8]},
            "expectation": {1: [7.0, 6.9], 2: [7.1, 7.0]},
            "entrgi": {1: [6.7, 6.6], 2: [6.7, 6.8]},
        },
        flops={"bon": BON_K4, "expectation": EXPECTATION, "entrgi": ENTRGI},
    )
    rep = report.load(tmp_path)
    front = {r["method"]: r["front_flops"] for r in rep.rows}
    assert front == {"bon": True, "expectation": True, "entrgi": False}
    assert {r["method"]: r["front_wall"] for r in rep.rows}["entrgi"] is False  # equal walls: off the wall front too
    md = rep.markdown()
    assert (
        "- Most Top@1 per FLOP (the Pareto front, by means): `bon` (19.63 GFLOPs, 5.700) → `expectation` "
        "(78.33 GFLOPs, 7.000)." in md
    )
    assert "Costs within 1% of each other count as equal" in md


def test_an_ordering_within_noise_says_so(tmp_path):
    _sweep(
        tmp_path,
        {
            "expectation": {1: [6.0, 7.0, 5.0, 8.0], 2: [6.5, 7.5, 5.5, 6.0]},
            "entrgi": {1: [6.5, 6.0, 5.5, 8.0], 2: [6.0, 8.0, 6.0, 6.5]},  # +0.125 on average, by pair -1 to +0.5
        },
    )
    rep = report.load(tmp_path)
    (top1,) = [c for c in rep.comparisons if c.metric == "top1_reward_mean"]
    assert (top1.higher, top1.lower, top1.diff.pairs) == ("entrgi", "expectation", 8)
    assert top1.diff.low < 0 < top1.diff.high
    md = rep.markdown()
    assert (
        "- Highest Top@1: `entrgi` (6.562 ± 0.062). Within noise of it (paired 95% interval holds 0): `expectation`."
        in md
    )
    assert report.load(tmp_path).markdown() == md  # seeded bootstrap: the same report every time
    report.main([str(tmp_path), "--no-plots", "--no-wandb"])
    paired = list(csv.DictReader(io.StringIO((tmp_path / "paired.csv").read_text())))
    row = next(r for r in paired if r["metric"] == "top1_reward_mean")
    assert (row["higher"], row["lower"], row["pairs"], row["within_noise"]) == ("entrgi", "expectation", "8", "true")
    assert float(row["difference"]) == pytest.approx(0.125) and float(row["low"]) == pytest.approx(top1.diff.low)


def test_a_clearly_separated_ordering_is_not_called_noise(tmp_path):
    _sweep(
        tmp_path,
        {
            "bon": {1: [5.0, 5.5, 4.5, 5.2], 2: [5.1, 4.9, 5.3, 4.8]},
            "entrgi": {1: [7.0, 7.4, 6.6, 7.3], 2: [7.0, 6.9, 7.2, 6.9]},
        },
        flops={"bon": 1e9, "entrgi": 1e9},  # equal costs: BoN is entrgi's compute-matched BoN
    )
    rep = report.load(tmp_path)
    md = rep.markdown()
    assert "- Highest Top@1: `entrgi` (7.037 ± 0.038). Every other group is below it beyond noise." in md
    assert "- Against BoN at matched compute (Top@1, paired): above it beyond noise: `entrgi`." in md
    cell = _line(rep.table(), "| entrgi |").split(" | ")[-1]
    entrgi = next(r for r in rep.rows if r["method"] == "entrgi")
    assert cell == f"+2.000 [{entrgi['vs_bon_top1_low']:+.3f}, {entrgi['vs_bon_top1_high']:+.3f}] (bon) |"
    assert entrgi["vs_bon_top1_low"] > 0 and "within noise" not in md


def test_the_spread_over_seeds_says_when_seeds_also_change_the_prompts(tmp_path):
    _sweep(tmp_path, {"bon": {1: [1.0, 2.0], 2: [1.5, 2.5]}, "entrgi": {1: [2.0, 2.0], 2: [3.0, 1.0]}})
    assert "every seed ran the same prompts" in report.load(tmp_path).markdown()
    for folder in tmp_path.iterdir():  # the testbed's sample ids: testbed-<seed>-<i>
        seed = json.loads((folder / "metrics.json").read_text())["seed"]
        recs = [json.loads(line) for line in (folder / "generations.jsonl").read_text().splitlines()]
        lines = [json.dumps(r | {"sample_id": f"testbed-{seed}-{r['sample_id']}"}) + "\n" for r in recs]
        (folder / "generations.jsonl").write_text("".join(lines))
    md = report.load(tmp_path).markdown()
    assert "it mixes prompt-to-prompt and seed-to-seed variation" in md


def test_a_sweep_with_a_single_k_says_why_bon_at_matched_flops_is_blank(tmp_path):
    rep = report.load(write_method_sweep(tmp_path))  # BoN at K=4 only (1 GFLOPs), EntRGi at 4 GFLOPs
    entrgi = next(r for r in rep.rows if r["method"] == "entrgi")
    assert entrgi["bon_matched_top1"] is None and "vs_bon_group" not in entrgi  # no BoN costs as much
    assert "BoN ran at one FLOPs per prompt only (1 GFLOPs)" in entrgi["blank"]["bon_matched_top1"]
    table = rep.table()
    assert _line(table, "| entrgi |").endswith("| none |") and _line(table, "| bon |").endswith("| — |")
    assert "`none`: no BoN group costs as much" in rep.markdown()


def test_a_guided_group_without_flops_says_why_it_has_no_comparison(tmp_path):
    for i, (method, k) in enumerate([("bon", 4), ("entrgi", 8)]):
        write_run(
            tmp_path / str(i), method, 1, [1.0 + i], cfg=config(method, 1, tmp_path / str(i), samples_per_prompt=k)
        )
    md = report.load(tmp_path).markdown()
    assert _line(md, "| entrgi |").endswith("| n/a (no FLOPs) |")
    assert "no `compute` in metrics.json (runs written before the FLOP counter)" in md  # the FLOPs footnote


def _loaded_sweep(root: Path, loads: list[tuple[float, float]], cpus: int = 2) -> Path:
    for i, ((start, end), method) in enumerate(zip(loads, ["bon", "bon", "entrgi", "entrgi"], strict=True)):
        folder = write_run(root / str(i), method, 1 + i % 2, [1.0 + i, 2.0], compute=1e9 * (1 + i // 2), wall=2.0 + i)
        _set_metrics(folder, cpu_s=3.0 + i, load_avg_start=start, load_avg_end=end, cpu_count=cpus)
    return root


def test_runs_beside_very_different_other_work_warn_that_wall_times_are_unreliable(tmp_path, capsys):
    # own CPU use per CPU: (3 + i) / (2 + i) / 2 = 0.75, 0.67, 0.63, 0.60; other work: 0, 0, 0, 1.60 - 0.60
    rep = report.load(_loaded_sweep(tmp_path / "busy", [(0.2, 0.6), (0.5, 0.5), (0.6, 0.8), (2.8, 3.6)]))
    (warning,) = rep.warnings
    assert "goes from 0.00 (bon seed 1 (`0`))" in warning
    assert "to 1.00 (entrgi seed 2 (`3`)), more than 0.5 apart" in warning
    assert "Wall-time comparisons between these runs" in warning and "FLOPs are counted, not timed" in warning
    md = rep.markdown()
    assert md.index("**Warning:**") < md.index("## Answer")
    assert "Some runs ran on a busy machine (other work's load per CPU up to 1.00, above 0.5" in md
    rows = {r["method"]: r for r in rep.rows}
    assert rows["bon"]["cpu_s"] == 3.5 and rows["entrgi"]["cpu_s_per_prompt"] == 2.75  # (5 + 6) / 2 runs / 2 prompts
    report.main([str(tmp_path / "busy"), "--no-plots", "--no-wandb"])
    assert "warning: The runs ran beside very different amounts of other work" in capsys.readouterr().err
    calm = _loaded_sweep(tmp_path / "calm", [(0.2, 0.6), (0.5, 0.5), (0.6, 0.8), (0.9, 1.1)])
    assert report.load(calm).warnings == [] and "busy machine" not in report.load(calm).markdown()
    _set_metrics(calm / "3", cpu_count=16)
    (other,) = report.load(calm).warnings
    assert other.startswith("The runs saw different CPU counts (2, 16)")


def test_a_sweep_alone_on_the_machine_does_not_warn_about_its_own_threads(tmp_path):
    """Each run keeps both CPUs busy (cpu_s = 2 x wall): its own load, 0.25 to 1.05 per CPU as the 1-minute
    average catches up, is no other work; only the load beyond it is."""
    for i, (start, end) in enumerate([(0.2, 0.8), (1.9, 2.1), (2.0, 2.2), (2.1, 2.1)]):
        folder = write_run(tmp_path / str(i), "bon", 1 + i, [1.0, 2.0], compute=1e9, wall=10.0)
        _set_metrics(folder, cpu_s=20.0, load_avg_start=start, load_avg_end=end, cpu_count=2)
    assert report.load(tmp_path).warnings == []
    _set_metrics(tmp_path / "3", load_avg_start=4.1, load_avg_end=4.3)  # another job took two more CPUs
    (warning,) = report.load(tmp_path).warnings
    assert "to 1.10 (bon seed 4 (`3`)), more than 0.5 apart" in warning


def test_old_folders_without_cpu_time_or_load_still_report_and_say_why(tmp_path):
    old = tmp_path / "old"
    shutil.copytree(OLD_RUN, old)
    rep = report.load(old)
    (row,) = rep.rows
    assert "cpu_s" not in row and "`cpu_s` is not in metrics.json" in row["blank"]["cpu_s"]
    assert rep.warnings == [] and rep.comparisons == []
    md = rep.markdown()
    assert "1 of 1 runs did not record the machine load" in md
    # an old run next to a new one: no load warning (nothing to compare), the old one is named as unchecked
    new = write_run(tmp_path / "new", "bon", 1, [1.0], cfg=config("bon", 1, tmp_path / "new"), compute=1e9)
    _set_metrics(new, cpu_s=1.0, load_avg_start=9.0, load_avg_end=None, cpu_count=2)
    both = report.load(tmp_path)
    assert both.warnings == [] and "1 of 2 runs did not record the machine load" in both.markdown()
