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

from entrgi.analysis.aggregate import column_label
from entrgi.analysis.runs import Group
from entrgi.analysis.stats import BOOTSTRAP_RESAMPLES, PairedDifference, paired_difference

PAIRED_METRICS = ("top1_reward_mean", "judge_score_mean")  # per-prompt: the record's top1_reward, judge.score
LEVEL = 0.95
MIN_PAIRS = 8  # fewer shared (seed, prompt) pairs: no comparison (a percentile bootstrap of so few is too narrow)


def _value(record: dict, metric: str) -> float | None:
    value = record.get("top1_reward") if metric == "top1_reward_mean" else (record.get("judge") or {}).get("score")
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

    def sentence(self) -> str:
        label = column_label(self.metric)
        d = self.diff
        numbers = (
            f"difference ({self.higher} − {self.lower}) {d.mean:+.3f}, {LEVEL:.0%} interval "
            f"[{d.low:+.3f}, {d.high:+.3f}] over {d.pairs} paired (seed, prompt) pairs"
        )
        if d.within_noise:
            return f"{self.higher} and {self.lower} are within noise on {label}: {numbers}."
        return f"{self.higher} is above {self.lower} on {label} beyond noise: {numbers}."


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


def ranking_sentences(comparisons: list[Comparison], rows: list[dict]) -> list[str]:
    """One sentence per two groups next to each other in the ranking by a metric's mean (the table's order of
    merit): within noise, or above beyond noise."""
    found = {(c.metric, frozenset((c.higher, c.lower))): c for c in comparisons}
    out = []
    for metric in dict.fromkeys(c.metric for c in comparisons):
        ranked = sorted(
            (r for r in rows if isinstance(r.get(metric), float) and not math.isnan(r[metric])),
            key=lambda r: -r[metric],
        )
        for a, b in zip(ranked, ranked[1:], strict=False):
            c = found.get((metric, frozenset((a["group"], b["group"]))))
            if c is not None:
                out.append(c.sentence())
    return out


def paired_table(comparisons: list[Comparison]) -> str:
    """Markdown: one line per compared pair of groups and metric."""
    lines = [
        "| metric | higher | lower | pairs | difference | 95% interval | within noise |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {column_label(c.metric)} | {c.higher} | {c.lower} | {c.diff.pairs} | {c.diff.mean:+.3f} "
        f"| [{c.diff.low:+.3f}, {c.diff.high:+.3f}] | {'yes' if c.diff.within_noise else 'no'} |"
        for c in comparisons
    ]
    return "\n".join(lines)


def paired_section(comparisons: list[Comparison], rows: list[dict], groups: list[Group]) -> list[str]:
    """The report's lines on paired differences: the ranking sentences, the table and how it was made."""
    if not comparisons:
        return [
            f"No two groups share {MIN_PAIRS} or more (seed, prompt) pairs with a finite Top@1: no paired "
            "differences (too few prompts, groups that differ in data or seeds, or a single group)."
        ]
    compared = {frozenset((c.higher, c.lower)) for c in comparisons}
    apart = len(groups) * (len(groups) - 1) // 2 - len(compared)
    how = (
        f"Difference: the mean over the (seed, prompt) pairs both groups ran of the higher group's value "
        f"minus the lower's (Top@1 reward; the judge's score of the Top@1 response); {LEVEL:.0%} percentile "
        f"bootstrap interval over pairs ({BOOTSTRAP_RESAMPLES} resamples, fixed seed: the same numbers on "
        "every run of the report). Within noise: the interval holds 0. The sentences cover groups next to "
        "each other in the ranking by the table's mean; the table has every pair. Each interval misses the "
        "truth 5% of the time, so among many pairs a few 'beyond noise' are expected by chance."
    )
    if apart:
        how += f" {apart} pair(s) of groups share fewer than {MIN_PAIRS} pairs and are not compared."
    return [*(f"- {s}" for s in ranking_sentences(comparisons, rows)), "", paired_table(comparisons), "", how]
