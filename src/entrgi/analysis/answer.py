"""The report's first screen: the sweep's constants stated once, one table of at most eight columns (group,
K, FLOPs per prompt, Top@1, each judge, the paired difference against the compute-matched BoN), and one
sentence per finding the statistics support.
"""

from __future__ import annotations

import math
from typing import Any

from entrgi.analysis.aggregate import column_label, judge_score_columns
from entrgi.analysis.frontier import COST_TOLERANCE, same_cost
from entrgi.analysis.labels import K_AXIS, MISSING, option_name
from entrgi.analysis.paired import Comparison
from entrgi.analysis.runs import Group, Run
from entrgi.analysis.tables import Footnotes, format_cell, format_flops, markdown_table

MAX_COLUMNS = 8
TOP1 = "top1_reward_mean"
FLOPS = "compute.flops_per_prompt"
# constants of a sweep, in the order stated: (format, config key); a `_target_` key shows its option
CONSTANTS = (
    ("model {}", "model._target_"),
    ("reward {}", "reward._target_"),
    ("data {}", "data.source._target_"),
    ("judge {}", "judge._target_"),
    ("K={}", K_AXIS),
    ("T={}", "schedule.steps"),
    ("M={}", "guidance.inner_steps"),
    ("eta={}", "guidance.lr"),
    ("tau={}", "schedule.temperature"),
    ("{} new tokens", "schedule.max_new_tokens"),
)
PATHS = {"model._target_": "model.path", "reward._target_": "reward.path", "data.source._target_": "data.path"}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _constant(runs: list[Run], key: str) -> str | None:
    """The value every run that has ``key`` shares (a path or hub id before an option), else None."""
    path_key = PATHS.get(key)
    values = set()
    for r in runs:
        if path_key and r.config.get(path_key) not in (None, MISSING):
            values.add(str(r.config[path_key]))
        elif key in r.config:
            values.add(option_name(key, r.config[key], r.choices))
    return values.pop() if len(values) == 1 else None


def constants_line(runs: list[Run], groups: list[Group]) -> str:
    """``model testbed · reward testbed · T=48 · ... · seeds 1, 2, 3 · 16 prompts per run``: what no group changes."""
    parts = []
    for text, key in CONSTANTS:
        value = _constant(runs, key)
        if value is not None:
            parts.append(text.format(value))
    seeds = sorted({r.seed for r in runs}, key=str)
    parts.append(f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}")
    prompts = sorted({r.metrics.get("num_prompts") for r in runs if _finite(r.metrics.get("num_prompts"))})
    if prompts:
        span = str(prompts[0]) if len(prompts) == 1 else f"{prompts[0]}-{prompts[-1]}"
        parts.append(f"{span} prompts per run")
    parts.append(f"{len(runs)} runs in {len(groups)} group{'s' if len(groups) > 1 else ''}")
    return " · ".join(parts)


def _vs_bon_cell(row: dict) -> str:
    if row.get("vs_bon_group") is None:
        if row.get("baseline"):
            return "—"
        return "none" if _finite(row.get(FLOPS)) else "n/a (no FLOPs)"
    if not _finite(row.get("vs_bon_top1")):
        return f"n/a ({row.get('vs_bon_pairs', 0)} pairs; {row['vs_bon_group']})"
    return (
        f"{row['vs_bon_top1']:+.3f} [{row['vs_bon_top1_low']:+.3f}, {row['vs_bon_top1_high']:+.3f}] "
        f"({row['vs_bon_group']})"
    )


def answer_table(rows: list[dict]) -> str:
    """group | K | FLOPs/prompt | Top@1 | judge[...] | vs BoN (Top@1): mean ± SEM over seeds; blanks explained."""
    judges = judge_score_columns(rows)[: MAX_COLUMNS - 5]
    notes = Footnotes()
    head = ["group", "K", "FLOPs/prompt", "Top@1", *(column_label(j) for j in judges), "vs BoN (Top@1, paired)"]
    body = []
    for r in rows:
        k = r.get("k")
        cells = [
            r["group"],
            "" if k in (None, MISSING) else str(k),
            notes.cell(format_flops(r.get(FLOPS)), r, FLOPS, "FLOPs/prompt"),
            notes.cell(format_cell(TOP1, r.get(TOP1), r.get(f"{TOP1}_sem")), r, TOP1, "Top@1"),
            *(notes.cell(format_cell(j, r.get(j), r.get(f"{j}_sem")), r, j, column_label(j)) for j in judges),
            _vs_bon_cell(r),
        ]
        body.append(cells)
    return notes.under(markdown_table(head, body))


def _ranked(rows: list[dict], metric: str) -> list[dict]:
    return sorted((r for r in rows if _finite(r.get(metric))), key=lambda r: -r[metric])


def _names(rows: list[dict]) -> str:
    return ", ".join(f"`{r['group']}`" for r in rows)


def _best_sentence(rows: list[dict], metric: str, comparisons: list[Comparison]) -> str | None:
    """The highest group on ``metric`` and which others the paired differences cannot tell from it."""
    ranked = _ranked(rows, metric)
    if len(ranked) < 2:
        return None
    best = ranked[0]
    found = {frozenset((c.higher, c.lower)): c for c in comparisons if c.metric == metric}
    tied, below, unpaired = [], [], []
    for r in ranked[1:]:
        c = found.get(frozenset((best["group"], r["group"])))
        (unpaired if c is None else tied if c.diff.within_noise else below).append(r)
    label = column_label(metric)
    sem = best.get(f"{metric}_sem")
    text = f"Highest {label}: `{best['group']}` ({best[metric]:.3f}"
    text += f" ± {sem:.3f})." if _finite(sem) else ")."
    if tied:
        text += f" Within noise of it (paired 95% interval holds 0): {_names(tied)}."
    if below and not tied:
        text += " Every other group is below it beyond noise."
    elif below:
        text += f" The other {len(below)} are below it beyond noise."
    if unpaired:
        text += f" Not paired with it (too few shared prompts): {_names(unpaired)}."
    return text


def _front_sentence(rows: list[dict]) -> str | None:
    on = sorted((r for r in rows if r.get("front_flops") and _finite(r.get(FLOPS))), key=lambda r: r[FLOPS])
    costs = [r[FLOPS] for r in rows if _finite(r.get(FLOPS))]
    if len(costs) >= 2 and same_cost(min(costs), max(costs)):
        return (
            f"Every group costs the same FLOPs per prompt within {COST_TOLERANCE:.0%} ({format_flops(min(costs))}): "
            "compare them on scores alone (plots/frontier.png ranks them)."
        )
    if not on:
        return None
    steps = " → ".join(f"`{r['group']}` ({format_flops(r[FLOPS])}, {r[TOP1]:.3f})" for r in on)
    return f"Most Top@1 per FLOP (the Pareto front, by means): {steps}."


def _bon_sentence(rows: list[dict]) -> str | None:
    compared = [r for r in rows if _finite(r.get("vs_bon_top1"))]
    if not compared:
        return None
    above = [r for r in compared if r["vs_bon_top1_low"] > 0]
    under = [r for r in compared if r["vs_bon_top1_high"] < 0]
    tied = [r for r in compared if r not in above and r not in under]
    parts = [
        f"{what}: {_names(group)}"
        for what, group in (("above it beyond noise", above), ("within noise", tied), ("below it beyond noise", under))
        if group
    ]
    return f"Against BoN at matched compute (Top@1, paired): {'; '.join(parts)}."


def findings(rows: list[dict], comparisons: list[Comparison]) -> list[str]:
    """One plain sentence per finding: the front per FLOP, the best by Top@1 and by each judge, BoN at matched
    compute. Each says what the paired intervals support and no more."""
    metrics = [TOP1, *judge_score_columns(rows)]
    out = [_front_sentence(rows), *(_best_sentence(rows, m, comparisons) for m in metrics), _bon_sentence(rows)]
    return [s for s in out if s]
