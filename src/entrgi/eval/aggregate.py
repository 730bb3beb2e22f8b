"""Aggregate runs: mean over prompts within a run, then mean +- SEM over seeds per method."""

from __future__ import annotations

import json
import math
from pathlib import Path

METRICS = ("top1_reward_mean", "avgN_reward_mean", "judge_oracle_total_mean", "judge_grammatical_mean",
           "generation_wall_s")


def find_runs(root: Path) -> list[dict]:
    """metrics.json of every run under ``root`` (a run folder or a sweep folder)."""
    return [json.loads(p.read_text()) | {"_dir": str(p.parent)} for p in sorted(Path(root).rglob("metrics.json"))]


def mean_sem(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def aggregate(runs: list[dict], metrics=METRICS) -> list[dict]:
    """One row per method: for each metric present, mean and SEM over its runs (seeds)."""
    by_method: dict[str, list[dict]] = {}
    for r in runs:
        by_method.setdefault(r.get("method", "?"), []).append(r)
    rows = []
    for method, group in sorted(by_method.items()):
        row = {"method": method, "runs": len(group), "seeds": sorted({r.get("seed") for r in group})}
        for m in metrics:
            values = [r[m] for r in group if isinstance(r.get(m), (int, float))]
            if values:
                row[m] = mean_sem(values)
        rows.append(row)
    return rows


def markdown_table(rows: list[dict], metrics=METRICS) -> str:
    present = [m for m in metrics if any(m in r for r in rows)]
    head = "| method | runs | " + " | ".join(present) + " |"
    lines = [head, "|" + "---|" * (2 + len(present))]
    for r in rows:
        cells = []
        for m in present:
            if m not in r:
                cells.append("")
            else:
                mean, sem = r[m]
                cells.append(f"{mean:.3f}" if math.isnan(sem) else f"{mean:.3f} ± {sem:.3f}")
        lines.append(f"| {r['method']} | {r['runs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
