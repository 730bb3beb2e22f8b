"""The rows of a report: one flat dict per group (axes, mean and SEM per metric, BoN comparisons, front).

A row holds ``group`` (label), ``method``, each shown axis, ``runs``, ``seeds``, then per metric
column ``<metric>`` (mean over the group's runs) and ``<metric>_sem`` (every judge's as
``judges.<name>.<field>_mean``; the flat ``judge_score_mean`` / ``judge_<field>_mean`` of each run's
latest judge too, which no table shows); ``bon_matched_top1``;
``bon_group`` / ``win_rate`` / ``win_rate_low`` / ``win_rate_high`` / ``win_pairs`` against the
BoN group on the same non-guidance axes; ``front_flops`` / ``front_wall`` (Top@1 Pareto front).
"""

from __future__ import annotations

from entrgi.analysis.aggregate import latest_judge_columns, metric_columns, summarize_runs
from entrgi.analysis.frontier import matched_bon, pareto_front
from entrgi.analysis.runs import Group, bon_peers
from entrgi.analysis.stats import win_rate
from entrgi.outputs.files import METRICS

K_AXIS = "samples_per_prompt"


def top1_by_prompt(group: Group) -> dict[tuple, float]:
    """(seed, sample_id) -> Top@1 reward over the group's records."""
    return {
        (repr(run.seed), rec["sample_id"]): rec["top1_reward"]
        for run in group.runs
        for rec in run.records
        if isinstance(rec.get("top1_reward"), (int, float))
    }


def _stats_row(group: Group, columns: list[str]) -> dict:
    row = {
        "group": group.label,
        "label": group.plot_label,
        "method": group.method,
        **group.shown,
        "runs": len(group.runs),
        "seeds": group.seeds,
    }
    for col, (mean, sem) in summarize_runs([r.metrics for r in group.runs], columns).items():
        row[col], row[f"{col}_sem"] = mean, sem
    return row


def build_rows(groups: list[Group]) -> tuple[list[dict], list[str], list[str]]:
    """(rows, metric columns, notes for the reader) of ``groups``."""
    metrics = [r.metrics for g in groups for r in g.runs]
    columns = metric_columns(metrics)
    rows = [_stats_row(g, [*columns, *latest_judge_columns(metrics)]) for g in groups]
    row_of = dict(zip((id(g) for g in groups), rows, strict=True))
    notes: list[str] = []
    for g, row in zip(groups, rows, strict=True):
        if not g.guided:
            continue
        curve = [
            (row_of[id(b)].get("compute.flops_per_prompt"), row_of[id(b)].get("top1_reward_mean"))
            for b in bon_peers(g, groups, ignore=(K_AXIS,))
        ]
        row["bon_matched_top1"] = matched_bon(row.get("compute.flops_per_prompt"), curve)
        peers = bon_peers(g, groups)
        if peers:
            wr = win_rate(top1_by_prompt(g), top1_by_prompt(peers[0]))
            if wr is not None:
                row |= {
                    "bon_group": peers[0].label,
                    "win_rate": wr.rate,
                    "win_rate_low": wr.low,
                    "win_rate_high": wr.high,
                    "win_pairs": wr.pairs,
                }
    for xkey, name in (("compute.flops_per_prompt", "front_flops"), ("wall_s_per_prompt", "front_wall")):
        front = pareto_front([r.get(xkey) for r in rows], [r.get("top1_reward_mean") for r in rows])
        for r, on in zip(rows, front, strict=True):
            r[name] = on if r.get(xkey) is not None and r.get("top1_reward_mean") is not None else None
    if not any("compute.flops_per_prompt" in r for r in rows):
        notes.append(
            f"No `compute` in {METRICS} (runs from before the FLOP counter): FLOP columns, the FLOPs "
            "frontier and BoN @ matched FLOPs are blank."
        )
    if not any(not g.guided for g in groups):
        notes.append("No BoN group (`method: bon`) in this folder: no win-rates and no BoN @ matched FLOPs.")
    elif any(g.guided for g in groups):
        notes.append(
            "BoN @ matched FLOPs: the BoN Top@1 interpolated linearly in log(FLOPs per prompt) between the "
            "BoN groups on the same non-guidance axes (any K); blank where the group's FLOPs per prompt "
            "fall outside the BoN groups' range."
        )
        notes.append(
            "Win-rate: share of (seed, prompt) pairs where the group's Top@1 reward beats the BoN group's on "
            "the same non-guidance axes (ties count 1/2); 95% bootstrap percentile interval over pairs "
            "(2000 resamples)."
        )
    return rows, columns, notes
