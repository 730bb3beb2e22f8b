"""The post-training table and learning curves from the sweeps of `bash bench/quality/posttrain.sh`.

    python bench/quality/posttrain_table.py "LABEL=SWEEP_DIR" ... --base GUIDED_BASE_RUN \
        --md OUT.md --csv OUT.csv --plot OUT.png

Per cell (objective x generation), mean +- SEM over seeds: the held-out unguided evaluation before and
after training (guidance reward: K=1, Top@1 and Avg@N of K=4; the oracle: Top@1, Avg@N), the guided
(EntRGi, K=4) Top@1 of the trained model beside the base model's, and the generation FLOPs per step.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from collections import defaultdict
from pathlib import Path

import yaml

from entrgi.outputs.files import RunFolder
from entrgi.outputs.metrics import has_metrics, read_metrics
from entrgi.outputs.posttrain import read_history

COLUMNS = [
    ("reward_k1", "reward K=1"),
    ("reward_top1", "reward Top@1"),
    ("reward_avg", "reward Avg@N"),
    ("judge_top1", "oracle Top@1"),
    ("judge_avg", "oracle Avg@N"),
]


def mean_sem(xs: list[float]) -> tuple[float, float]:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return math.nan, math.nan
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, math.nan
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return m, math.sqrt(var / len(xs))


def fmt(pair: tuple[float, float], digits: int = 3) -> str:
    m, s = pair
    if math.isnan(m):
        return "n/a"
    return f"{m:.{digits}f}" if math.isnan(s) else f"{m:.{digits}f} ± {s:.{digits}f}"


def load(sweep: Path, label: str, cells: dict[str, list[dict]]) -> None:
    for run in sorted(p for p in sweep.iterdir() if p.name.isdigit()):
        folder = RunFolder(run)
        cfg = yaml.safe_load(folder.config.read_text())
        summary = json.loads(folder.posttrain.read_text())
        guided = sweep / "guided" / run.name
        cells[f"{_cell(cfg)}, {label}"].append(
            {
                "seed": cfg["seed"],
                "summary": summary,
                "history": read_history(run),
                "guided": read_metrics(guided) if has_metrics(guided) else None,
            }
        )


def _cell(cfg: dict) -> str:
    objective = cfg["objective"]["loss"]["_target_"].rsplit(".", 1)[-1]
    guidance = "entrgi" if "Gradient" in cfg["guidance"]["_target_"] else "bon"
    return f"{objective} ({guidance}, K={cfg['samples_per_prompt']})"


def table(cells: dict, base: dict | None, minutes: int | None) -> tuple[str, list[dict]]:
    first = next(iter(cells.values()))[0]["summary"]["before"]
    lines = [
        "`bash bench/quality/posttrain.sh`: `python -m entrgi.posttrain +experiment=posttrain_testbed` twice (9 jobs "
        "each: 3 cells x seeds 1, 2, 3; LoRA r=8 on the shipped testbed dLLM, 20 AdamW steps of 4 training prompts, "
        "lr 1e-3 decaying linearly), once with the authors' one-step log-likelihood estimator and once with the "
        "masked-diffusion ELBO (`objective.estimator=elbo`, one draw: the same forwards); then "
        "`python -m entrgi.run data=testbed_heldout guidance=entrgi model.adapter=RUN/adapter` per run. "
        "Tabulated by `bench/quality/posttrain_table.py`."
        + (
            f" Wall time {minutes} min on {os.cpu_count()} CPU cores (the two sweeps side by side, one thread each)."
            if minutes is not None
            else ""
        ),
        "",
        "Held-out evaluation: 16 prompts the training never sees, unguided (Best-of-N, K=4, fixed seed): "
        "K=1 is trajectory 0, Top@1 the reward's pick of 4, Avg@N the mean of 4. Oracle: the testbed's hidden "
        "quality score in [0, 1] (not the guidance reward). Mean ± SEM over seeds.",
        "",
        "| cell | step | "
        + " | ".join(name for _, name in COLUMNS)
        + " | guided Top@1 (EntRGi K=4) | guided oracle Top@1 | gen FLOPs / step |",
        "|---|---|" + "---|" * (len(COLUMNS) + 3),
    ]
    base_reward = base.get("top1_reward_mean") if base else None
    base_oracle = base.get("judge_score_mean") if base else None
    lines.append(
        "| base model | 0 | "
        + " | ".join(f"{first[key]:.3f}" if first.get(key) is not None else "n/a" for key, _ in COLUMNS)
        + f" | {fmt((base_reward, math.nan)) if base_reward is not None else 'n/a'} | "
        + f"{fmt((base_oracle, math.nan)) if base_oracle is not None else 'n/a'} | |"
    )
    rows = []
    for cell, runs in cells.items():
        after = {key: mean_sem([r["summary"]["after"][key] for r in runs]) for key, _ in COLUMNS}
        guided = mean_sem([r["guided"]["top1_reward_mean"] for r in runs if r["guided"]])
        guided_oracle = mean_sem([r["guided"].get("judge_score_mean") for r in runs if r["guided"]])
        flops = mean_sem([r["summary"]["gen_flops_per_step"] for r in runs])
        steps = runs[0]["summary"]["steps"]
        lines.append(
            f"| {cell} | {steps} | "
            + " | ".join(fmt(after[key]) for key, _ in COLUMNS)
            + f" | {fmt(guided)} | {fmt(guided_oracle)} | {flops[0]:.3g} |"
        )
        for r in runs:
            rows.append(
                {"cell": cell, "seed": r["seed"], "steps": steps}
                | {f"before_{key}": r["summary"]["before"][key] for key, _ in COLUMNS}
                | {f"after_{key}": r["summary"]["after"][key] for key, _ in COLUMNS}
                | {
                    "guided_top1_reward": r["guided"]["top1_reward_mean"] if r["guided"] else None,
                    "guided_top1_oracle": r["guided"].get("judge_score_mean") if r["guided"] else None,
                    "gen_flops_per_step": r["summary"]["gen_flops_per_step"],
                    "wall_s": r["summary"]["wall_s"],
                }
            )
    return "\n".join(lines) + "\n", rows


def plot(cells: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    panels = [
        ("step", "loss", "training loss"),
        ("eval", "reward_top1", "held-out reward Top@1 (unguided K=4)"),
        ("eval", "judge_top1", "held-out oracle Top@1 (unguided K=4)"),
    ]
    for ax, (kind, key, title) in zip(axes, panels, strict=True):
        for cell, runs in cells.items():
            by_step = defaultdict(list)
            for r in runs:
                for row in r["history"]:
                    if row["kind"] == kind and row.get(key) is not None:
                        by_step[row["step"]].append(row[key])
            steps = sorted(by_step)
            ms = [mean_sem(by_step[s]) for s in steps]
            m = [x[0] for x in ms]
            s = [0.0 if math.isnan(x[1]) else x[1] for x in ms]
            style = "--" if "ELBO" in cell else "-"
            ax.plot(steps, m, style, marker="o" if kind == "eval" else None, label=cell)
            ax.fill_between(
                steps, [a - b for a, b in zip(m, s, strict=True)], [a + b for a, b in zip(m, s, strict=True)], alpha=0.2
            )
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("optimizer step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", help="LABEL=SWEEP_DIR, one per sweep")
    ap.add_argument("--base", type=Path, help="the base model's guided run (entrgi.run, no adapter)")
    ap.add_argument("--md", type=Path, required=True)
    ap.add_argument("--csv", type=Path, required=True)
    ap.add_argument("--plot", type=Path, required=True)
    ap.add_argument("--minutes", type=int, default=None)
    args = ap.parse_args()
    cells: dict[str, list[dict]] = defaultdict(list)
    for item in args.sweeps:
        label, _, folder = item.rpartition("=")
        load(Path(folder), label, cells)
    base = read_metrics(args.base) if args.base is not None and has_metrics(args.base) else None
    text, rows = table(cells, base, args.minutes)
    args.md.write_text(text)
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(cells, args.plot)


if __name__ == "__main__":
    main()
