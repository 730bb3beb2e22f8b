"""The rows of a report: one flat dict per group (axes, mean and SEM per metric, BoN comparisons, front).

A row holds ``group`` (label), ``method``, each shown axis, ``runs``, ``seeds``, then per metric
column ``<metric>`` (mean over the group's runs) and ``<metric>_sem`` (every judge's as
``judges.<name>.<field>_mean``; the flat ``judge_score_mean`` / ``judge_<field>_mean`` of each run's
latest judge too, which no table shows); ``bon_matched_top1``;
``bon_group`` / ``win_rate`` / ``win_rate_low`` / ``win_rate_high`` / ``win_pairs`` against the
BoN group on the same non-guidance axes; ``front_flops`` / ``front_wall`` (Top@1 Pareto front);
``vs_bon_group`` / ``vs_bon_top1`` / ``vs_bon_top1_low`` / ``vs_bon_top1_high`` / ``vs_bon_pairs``: the paired
Top@1 difference against the compute-matched BoN (:func:`compute_matched_bon`).
"""

from __future__ import annotations

from entrgi.analysis.aggregate import latest_judge_columns, metric_columns, summarize_runs
from entrgi.analysis.frontier import COST_TOLERANCE, matched_bon, pareto_front
from entrgi.analysis.labels import K_AXIS, MISSING, family
from entrgi.analysis.paired import LEVEL, MIN_PAIRS, prompt_values
from entrgi.analysis.runs import GUIDANCE_PREFIX, Group, bon_peers
from entrgi.analysis.stats import paired_difference, win_rate
from entrgi.outputs.files import METRICS, REPORT_CSV


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
        "method": group.method,
        **group.shown,
        "runs": len(group.runs),
        "seeds": group.seeds,
        "k": group.runs[0].config.get(K_AXIS, group.runs[0].metrics.get(K_AXIS)),
        "baseline": baseline(group),
    }
    for col, (mean, sem) in summarize_runs([r.metrics for r in group.runs], columns).items():
        row[col], row[f"{col}_sem"] = mean, sem
    return row


def baseline(group: Group) -> bool:
    """Plain Best-of-N: method bon with no glued option (``bon+fk`` is not the baseline, it is compared to it)."""
    return family(group) == "bon"


def compute_matched_bon(group: Group, groups: list[Group], flops: dict[int, float | None]) -> Group | None:
    """The plain BoN group with the smallest FLOPs per prompt at least the group's own (costs within
    ``COST_TOLERANCE`` count as equal), on the same axes but guidance, particles and K; None if there is none."""
    own = flops.get(id(group))
    if own is None or baseline(group):
        return None

    def comparable(other: Group) -> bool:
        keys = {*group.key, *other.key}
        return all(
            repr(other.key.get(a, MISSING)) == repr(group.key.get(a, MISSING))
            for a in keys
            if not a.startswith((GUIDANCE_PREFIX, "particles.")) and a != K_AXIS
        )

    candidates = [
        (f, id(o), o)
        for o in groups
        if baseline(o) and comparable(o) and (f := flops.get(id(o))) is not None and f >= own * (1 - COST_TOLERANCE)
    ]
    return min(candidates, key=lambda c: c[0])[2] if candidates else None


def _vs_bon(group: Group, groups: list[Group], flops: dict[int, float | None]) -> dict:
    bon = compute_matched_bon(group, groups, flops)
    if bon is None:
        return {}
    d = paired_difference(prompt_values(group, "top1_reward_mean"), prompt_values(bon, "top1_reward_mean"), LEVEL)
    out = {"vs_bon_group": bon.label, "vs_bon_pairs": 0 if d is None else d.pairs}
    if d is not None and d.pairs >= MIN_PAIRS:
        out |= {"vs_bon_top1": d.mean, "vs_bon_top1_low": d.low, "vs_bon_top1_high": d.high}
    return out


def build_rows(groups: list[Group]) -> tuple[list[dict], list[str], list[str]]:
    """(rows, metric columns, notes for the reader) of ``groups``."""
    metrics = [r.metrics for g in groups for r in g.runs]
    columns = metric_columns(metrics)
    rows = [_stats_row(g, [*columns, *latest_judge_columns(metrics)]) for g in groups]
    row_of = dict(zip((id(g) for g in groups), rows, strict=True))
    flops = {id(g): row_of[id(g)].get("compute.flops_per_prompt") for g in groups}
    for g, row in zip(groups, rows, strict=True):
        row |= _vs_bon(g, groups, flops)
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
    if not any(baseline(g) for g in groups):
        notes.append("No plain BoN group (`guidance=bon`, no particles) in this folder: no comparison against BoN.")
    elif any(not baseline(g) for g in groups):
        notes.append(
            f"vs BoN: the mean over the (seed, prompt) pairs both ran of the group's Top@1 minus that of the "
            f"compute-matched BoN (the plain BoN group with the smallest FLOPs per prompt at least the group's, "
            f"costs within {COST_TOLERANCE:.0%} counting as equal, on the same axes but guidance, particles and K), "
            f"with its {LEVEL:.0%} bootstrap interval over pairs; `none`: no BoN group costs as much. "
            f"{REPORT_CSV} also holds BoN's Top@1 interpolated at the group's FLOPs and the paired win-rate."
        )
    return rows, columns, notes
