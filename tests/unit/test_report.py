"""``python -m entrgi.report`` on hand-made run and sweep folders with every field of metrics.json and records."""

import csv
import io
import json
import math

import pytest
from report_runs import JSONL_DATA, STEPS, config, write_method_sweep, write_run

from entrgi import report
from entrgi.analysis.runs import group_runs, load_runs, varying_axes


def test_a_2x2_sweep_groups_by_its_axes_and_averages_seeds(tmp_path):
    i = 0
    for lr in (0.1, 0.5):
        for data in ("testbed", "jsonl"):
            for seed in (1, 2):
                cfg = config("entrgi", seed, tmp_path / str(i), **{"guidance.lr": lr})
                if data == "jsonl":
                    cfg["data"] = dict(JSONL_DATA)
                top1 = 10 * lr + (data == "jsonl") + 2 * seed  # seeds 1, 2: mean 3 + ..., SEM 1
                write_run(tmp_path / str(i), "entrgi", seed, [top1, top1], cfg=cfg)
                i += 1
    rep = report.load(tmp_path)
    assert rep.axes == ["guidance.lr", "data.source._target_"]
    assert "data.source.seed" not in varying_axes(rep.runs)  # equals the run's seed wherever it is set
    assert rep.grouped_by() == "Grouped by: guidance.lr, data.source._target_; averaged over seeds 1, 2"
    assert len(rep.rows) == 4 and all(r["runs"] == 2 and r["seeds"] == [1, 2] for r in rep.rows)
    got = {
        (r["guidance.lr"], r["data.source._target_"].rsplit(".", 1)[-1]): (
            r["top1_reward_mean"],
            r["top1_reward_mean_sem"],
        )
        for r in rep.rows
    }
    assert got == {
        (0.1, "TestbedPromptSource"): pytest.approx((4.0, 1.0)),
        (0.1, "PromptSource"): pytest.approx((5.0, 1.0)),
        (0.5, "TestbedPromptSource"): pytest.approx((8.0, 1.0)),
        (0.5, "PromptSource"): pytest.approx((9.0, 1.0)),
    }
    report.main([str(tmp_path), "--no-plots"])
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert len(rows) == 4
    assert list(rows[0])[:10] == [
        "group",
        "method",
        "guidance.lr",
        "data.source._target_",
        "runs",
        "seeds",
        "top1_reward_mean",
        "top1_reward_mean_sem",
        "avgN_reward_mean",
        "avgN_reward_mean_sem",
    ]
    assert {"judges.oracle.grammatical_mean", "compute.flops_per_prompt_sem", "gpu_s", "wall_s_per_prompt"} <= set(
        rows[0]
    )
    assert {r["group"] for r in rows} == {f"entrgi lr={lr} data={d}" for lr in (0.1, 0.5) for d in ("testbed", "jsonl")}
    row = next(r for r in rows if r["group"] == "entrgi lr=0.1 data=testbed")
    assert float(row["top1_reward_mean"]) == 4.0 and float(row["top1_reward_mean_sem"]) == 1.0
    assert row["gpu_s"] == "" and float(row["wall_s_per_prompt"]) == 1.0
    assert not (tmp_path / "plots").exists()


def test_a_seeds_only_sweep_gives_one_row_per_method(tmp_path):
    for i, (method, seed, top1) in enumerate(
        [("bon", 1, 1.0), ("bon", 2, 3.0), ("entrgi", 1, 4.0), ("entrgi", 2, 5.0), ("entrgi", 3, 6.0)]
    ):
        write_run(tmp_path / str(i), method, seed, [top1])
    groups, axes = group_runs(load_runs(tmp_path))
    assert axes == [] and [g.method for g in groups] == ["bon", "entrgi"]
    table = report.main([str(tmp_path), "--no-plots"])
    assert table.splitlines()[0] == "| group | K | FLOPs/prompt | Top@1 | judge[oracle] | vs BoN (Top@1, paired) |"
    assert "| entrgi | 4 | n/a [1] | 5.000 ± 0.577 | 0.500 ± 0.058 | n/a (no FLOPs) |" in table
    md = (tmp_path / "report.md").read_text()
    assert "Grouped by: method; averaged over seeds 1, 2, 3" in md and table in md
    # the per-method view bench/quality reads (the report's rows) keeps working
    rows = {r["method"]: (r["top1_reward_mean"], r["top1_reward_mean_sem"]) for r in report.load(tmp_path).rows}
    assert rows["bon"] == pytest.approx((2.0, 1.0))


def test_win_rate_against_bon_on_shared_prompts(tmp_path):
    rep = report.load(write_method_sweep(tmp_path))
    row = next(r for r in rep.rows if r["method"] == "entrgi")
    assert (row["win_rate"], row["win_rate_low"], row["win_rate_high"], row["win_pairs"]) == (0.75, 0.25, 1.0, 4)
    assert row["bon_group"] == "bon"
    assert "win_rate" not in next(r for r in rep.rows if r["method"] == "bon")
    report.main([str(tmp_path), "--no-plots", "--no-wandb"])
    rows = {r["group"]: r for r in csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text()))}
    assert (rows["entrgi"]["win_rate"], rows["entrgi"]["win_rate_low"], rows["entrgi"]["bon_group"]) == (
        "0.75",
        "0.25",
        "bon",
    )


def test_bon_at_matched_flops_and_the_frontier(tmp_path):
    for i, (method, k, flops, top1) in enumerate(
        [("bon", 2, 1e9, 1.0), ("bon", 8, 4e9, 2.0), ("entrgi", 2, 2e9, 3.0), ("entrgi", 8, 8e9, 1.5)]
    ):
        for seed in (1, 2):
            folder = tmp_path / f"{i}{seed}"
            write_run(
                folder,
                method,
                seed,
                [top1],
                cfg=config(method, seed, folder, samples_per_prompt=k),
                compute=flops,
                wall=flops / 1e9,
            )
    rep = report.load(tmp_path)
    assert rep.axes == ["samples_per_prompt"]
    rows = {(r["method"], r["samples_per_prompt"]): r for r in rep.rows}
    assert rows["entrgi", 2]["bon_matched_top1"] == pytest.approx(1.5)  # log-halfway between 1e9 and 4e9
    assert rows["entrgi", 8]["bon_matched_top1"] is None  # 8e9 is past the largest BoN
    assert rows["entrgi", 2]["win_rate"] == 1.0 and rows["entrgi", 8]["bon_group"] == "bon K=8"
    assert [r["front_flops"] for r in rep.rows] == [True, False, True, False]  # bon K=2, K=8, entrgi K=2, K=8
    assert rows["entrgi", 2]["vs_bon_group"] == "bon K=8" and rows["entrgi", 2]["vs_bon_pairs"] == 2  # >= 2 GFLOPs
    assert "vs_bon_group" not in rows["entrgi", 8]  # no BoN costs 8 GFLOPs
    assert "above the BoN groups' range" in rows["entrgi", 8]["blank"]["bon_matched_top1"]
    md = rep.markdown()
    assert "Grouped by: method, samples_per_prompt; averaged over seeds 1, 2" in md
    assert "| bon K=2 | 2 | 1.00 GFLOPs | 1.000 ± 0.000 | 0.100 ± 0.000 | — |" in md
    assert "| entrgi K=2 | 2 | 2.00 GFLOPs | 3.000 ± 0.000 | 0.300 ± 0.000 | n/a (2 pairs; bon K=8) |" in md
    assert "| entrgi K=8 | 8 | 8.00 GFLOPs | 1.500 ± 0.000 | 0.150 ± 0.000 | none |" in md
    assert "- Most Top@1 per FLOP (the Pareto front, by means): `bon K=2` (1.00 GFLOPs, 1.000) → `entrgi K=2`" in md


def test_report_writes_every_plot_and_the_gif(tmp_path):
    from PIL import Image

    write_method_sweep(tmp_path)
    report.main([str(tmp_path), "--prompt", "p1", "--no-wandb"])
    plots = tmp_path / "plots"
    for name in ("frontier", "soft_reward", "entropy_w", "w_hist", "heatmap_p1"):
        assert (plots / f"{name}.png").stat().st_size > 10_000, name
    with Image.open(plots / "denoising.gif") as gif:
        assert gif.n_frames == STEPS
    md = (tmp_path / "report.md").read_text()
    assert "![frontier](plots/frontier.png)" in md and "![denoising](plots/denoising.gif)" in md


def test_gif_frames_show_tokens_once_committed():
    from entrgi.analysis.animation import frame_text

    tokens, steps = ["the", "cat", "sat"], [0, 2, 1]
    assert [frame_text(tokens, steps, t) for t in range(3)] == ["the ___ ___", "the ___ sat", "the cat sat"]
    assert frame_text([" the", " cat"], [1, -1], 5) == "the ___"


def test_report_api_returns_figures(tmp_path):
    rep = report.load(write_method_sweep(tmp_path))
    fig = rep.plot_frontier()
    assert len(fig.axes) == 4 and fig.axes[0].get_xscale() == "log"
    assert fig.axes[0].get_ylabel() == "Top@1 (guiding reward)"
    heat = rep.plot_heatmap()
    assert heat is not None and "prompt p0" in heat.texts[0].get_text()
    assert rep.prompt_key() == ("1", "p0") and rep.prompt_key("p1") == ("1", "p1")


def test_older_runs_without_config_compute_or_order_still_report(tmp_path):
    for i, (method, seed) in enumerate([("bon", 1), ("entrgi", 1)]):
        folder = write_run(tmp_path / str(i), method, seed, [1.0 + i], with_config=False)
        recs = [json.loads(line) for line in (folder / "generations.jsonl").read_text().splitlines()]
        for r in recs:
            r.pop("order"), r.pop("entropy_map")
        (folder / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    report.main([str(tmp_path), "--no-wandb"])
    md = (tmp_path / "report.md").read_text()
    assert "No `compute` in metrics.json" in md and "No denoising.gif" in md and "no heatmap" in md
    assert (tmp_path / "plots" / "frontier.png").is_file() and not (tmp_path / "plots" / "denoising.gif").exists()
    row = next(r for r in report.load(tmp_path).rows if r["method"] == "entrgi")
    assert row["win_rate"] == 1.0 and math.isnan(row["top1_reward_mean_sem"])


def test_report_rejects_a_missing_folder_or_one_without_runs(tmp_path, capsys):
    with pytest.raises(SystemExit):
        report.main([str(tmp_path)])
    assert "no metrics.json under" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        report.main([str(tmp_path / "nope")])
    assert "is not a folder" in capsys.readouterr().err
    write_method_sweep(tmp_path / "sweep")
    with pytest.raises(SystemExit):
        report.main([str(tmp_path / "sweep"), "--prompt", "p9"])
    assert "--prompt p9: no run under" in capsys.readouterr().err


def test_report_logs_to_wandb_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for i, method in enumerate(("bon", "entrgi")):
        folder = tmp_path / str(i)
        cfg = config(
            method,
            1,
            folder,
            logger={
                "_target_": "lightning.pytorch.loggers.WandbLogger",
                "project": "entrgi-test",
                "entity": None,
                "mode": "offline",
            },
        )
        write_run(folder, method, 1, [1.0], cfg=cfg)
    report.main([str(tmp_path), "--no-plots"])
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert len(list(runs[0].rglob("*.table.json"))) == 1  # the report rows as a wandb.Table
    assert len(report.load(tmp_path).runs) == 2  # wandb/ is not mistaken for runs
