"""Paired differences between any two groups on the (seed, prompt) pairs both ran, and which orderings are
within noise.

The ± of a group is its SEM over seeds; when the seed also picks the prompts (the testbed), it mixes
prompt-to-prompt and seed-to-seed variation, so two groups' ± say little about their difference.
Here two groups are compared on the same (seed, sample_id) keys: the mean of the per-pair
differences with a seeded percentile bootstrap interval over pairs (reproducible run to run). An
ordering is *within noise* when that interval holds 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

from entrgi.analysis.aggregate import JUDGE_PREFIX
from entrgi.analysis.runs import Group
from entrgi.analysis.stats import PairedDifference, paired_difference
from entrgi.judges.apply import record_judges

# per-prompt: the record's top1_reward; judge_score_mean: its latest judge's score of the Top@1 response;
# judges.<name>.score_mean: judge <name>'s (the report compares Top@1 and every judge's score)
PAIRED_METRICS = ("top1_reward_mean", "judge_score_mean")
LEVEL = 0.95
MIN_PAIRS = 8  # fewer shared (seed, prompt) pairs: no comparison (a percentile bootstrap of so few is too narrow)


def _value(record: dict, metric: str) -> float | None:
    if metric == "top1_reward_mean":
        value = record.get("top1_reward")
    elif metric.startswith(JUDGE_PREFIX):  # judges.<name>.score_mean
        block = record_judges(record).get(metric[len(JUDGE_PREFIX) : -len(".score_mean")]) or {}
        value = (block.get("top1") or {}).get("score")
    else:
        value = (record.get("judge") or {}).get("score")
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def prompt_values(group: Group, metric: str) -> dict[tuple, float]:
    """(repr(seed), sample_id) -> the metric of that prompt's record (Top@1 reward, or the judge's score of the
    Top@1 response); records without a finite value are left out."""
    return {
        (repr(run.seed), rec["sample_id"]): v
        for run in group.runs
        for rec in run.records
        if (v := _value(rec, metric)) is not None
    }


@dataclass(frozen=True)
class Comparison:
    """``higher`` - ``lower`` on ``metric`` over their shared pairs (``higher``: the larger mean on those pairs)."""

    metric: str
    higher: str
    lower: str
    diff: PairedDifference


def compare_groups(
    groups: list[Group], metrics: tuple[str, ...] = PAIRED_METRICS, min_pairs: int = MIN_PAIRS
) -> list[Comparison]:
    """Every two groups with at least ``min_pairs`` shared (seed, prompt) pairs, per metric, in group order."""
    out = []
    for metric in metrics:
        values = [prompt_values(g, metric) for g in groups]
        for i, j in combinations(range(len(groups)), 2):
            d = paired_difference(values[i], values[j], LEVEL)
            if d is None or d.pairs < min_pairs:
                continue
            if d.mean < 0:
                i, j = j, i
                d = paired_difference(values[i], values[j], LEVEL)
            out.append(Comparison(metric, groups[i].label, groups[j].label, d))
    return out


def paired_csv(comparisons: list[Comparison]) -> str:
    """Every compared pair of groups and metric: metric, higher, lower, pairs, difference, low, high, within_noise."""
    lines = ["metric,higher,lower,pairs,difference,low,high,within_noise"]
    lines += [
        ",".join(
            [
                c.metric,
                _csv_text(c.higher),
                _csv_text(c.lower),
                str(c.diff.pairs),
                repr(c.diff.mean),
                repr(c.diff.low),
                repr(c.diff.high),
                str(c.diff.within_noise).lower(),
            ]
        )
        for c in comparisons
    ]
    return "\n".join(lines) + "\n"


def _csv_text(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n') else text
