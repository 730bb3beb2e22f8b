"""Aggregate runs: mean over prompts within a run (metrics.json), then mean ± SEM over a group's runs.

``metric_columns`` names the columns every report table carries (missing values stay blank);
``summarize_runs`` reduces a group's runs to (mean, SEM) per column (the report's rows, and
bench/quality's per-method table, are built from it).
"""

from __future__ import annotations

import math
import re

from entrgi.analysis.stats import mean_sem

__all__ = [
    "COLUMNS",
    "LABELS",
    "TIME_COLUMNS",
    "run_values",
    "metric_columns",
    "summarize_runs",
    "column_label",
    "mean_sem",
]

REWARD_COLUMNS = ("top1_reward_mean", "avgN_reward_mean", "judge_score_mean")
COMPUTE_COLUMNS = (
    "compute.flops_per_prompt",
    "compute.flops",
    "compute.dllm_forwards",
    "compute.reward_forwards",
    "compute.reward_backwards",
)
TIME_COLUMNS = ("generation_wall_s", "wall_s_per_prompt", "gpu_s")
COLUMNS = REWARD_COLUMNS + COMPUTE_COLUMNS + TIME_COLUMNS
LABELS = {
    "top1_reward_mean": "Top@1",
    "avgN_reward_mean": "Avg@N",
    "judge_score_mean": "judge score",
    "compute.flops_per_prompt": "FLOPs/prompt",
    "compute.flops": "FLOPs",
    "compute.dllm_forwards": "dLLM fwd",
    "compute.reward_forwards": "reward fwd",
    "compute.reward_backwards": "reward bwd",
    "generation_wall_s": "gen wall s",
    "wall_s_per_prompt": "wall s/prompt",
    "gpu_s": "GPU s",
}
JUDGE_FIELD = re.compile(r"^judge_(.+)_mean$")


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def run_values(metrics: dict) -> dict[str, float]:
    """The numeric metrics of one run: top-level keys, ``compute.*`` and the derived ``wall_s_per_prompt``."""
    out = {k: v for k, v in ((k, _number(v)) for k, v in metrics.items()) if v is not None}
    for k, v in (metrics.get("compute") or {}).items():
        if _number(v) is not None:
            out[f"compute.{k}"] = _number(v)
    if out.get("num_prompts") and "generation_wall_s" in out:
        out["wall_s_per_prompt"] = out["generation_wall_s"] / out["num_prompts"]
    return out


def metric_columns(metrics: list[dict]) -> list[str]:
    """The fixed columns, with every other ``judge_<field>_mean`` found in ``metrics`` after the judge score."""
    extra = sorted(
        {k for m in metrics for k in m if JUDGE_FIELD.match(k) and k not in COLUMNS and _number(m[k]) is not None}
    )
    return [*REWARD_COLUMNS, *extra, *COMPUTE_COLUMNS, *TIME_COLUMNS]


def summarize_runs(metrics: list[dict], columns: list[str]) -> dict[str, tuple[float, float]]:
    """column -> (mean, SEM) over the runs that have it; columns no run has are left out."""
    values = [run_values(m) for m in metrics]
    out = {}
    for col in columns:
        present = [v[col] for v in values if col in v]
        if present:
            out[col] = mean_sem(present)
    return out


def column_label(column: str) -> str:
    match = JUDGE_FIELD.match(column)
    return LABELS.get(column) or (f"judge {match.group(1)}" if match else column)
