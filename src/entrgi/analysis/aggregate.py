"""Aggregate runs: mean over prompts within a run (metrics.json), then mean ± SEM over a group's runs.

``metric_columns`` names the columns every report table carries (missing values stay blank);
``summarize_runs`` reduces a group's runs to (mean, SEM) per column (the report's rows, and
bench/quality's per-method table, are built from it).
"""

from __future__ import annotations

import math
import re

from entrgi.analysis.stats import mean_sem
from entrgi.outputs.metrics import judge_blocks

__all__ = [
    "COLUMNS",
    "LABELS",
    "TIME_COLUMNS",
    "run_values",
    "metric_columns",
    "judge_columns",
    "latest_judge_columns",
    "judge_score_columns",
    "summarize_runs",
    "column_label",
    "mean_sem",
]

REWARD_COLUMNS = ("top1_reward_mean", "avgN_reward_mean")  # then each judge's columns (judge_columns)
COMPUTE_COLUMNS = (
    "compute.flops_per_prompt",
    "compute.flops",
    "compute.dllm_forwards",
    "compute.reward_forwards",
    "compute.reward_backwards",
)
# cpu_s: the processes' CPU seconds while generating (summed over ranks and resumed segments), beside the wall
TIME_COLUMNS = ("generation_wall_s", "cpu_s", "wall_s_per_prompt", "cpu_s_per_prompt", "gpu_s")
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
    "cpu_s": "CPU s",
    "cpu_s_per_prompt": "CPU s/prompt",
    "gpu_s": "GPU s",
}
JUDGE_FIELD = re.compile(r"^judge_(.+)_mean$")  # metrics.json's flat keys: the latest judge of a run
JUDGE_PREFIX = "judges."  # judges.<name>.<key>: a judge's block of metrics.json (outputs/metrics.judge_blocks)
JUDGE_FIRST = ("score_mean", "score_avgN_mean")  # a judge's first columns; its other fields follow, sorted


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def run_values(metrics: dict) -> dict[str, float]:
    """The numeric metrics of one run: top-level keys, ``compute.*`` and the derived ``wall_s_per_prompt`` and
    ``cpu_s_per_prompt`` (``cpu_s``, CPU seconds while generating, over the prompts)."""
    out = {k: v for k, v in ((k, _number(v)) for k, v in metrics.items()) if v is not None}
    for k, v in (metrics.get("compute") or {}).items():
        if _number(v) is not None:
            out[f"compute.{k}"] = _number(v)
    for name, block in judge_blocks(metrics).items():  # judges.<name>.<key>, old flat judgements included
        for k, v in block.items():
            if _number(v) is not None:
                out[f"{JUDGE_PREFIX}{name}.{k}"] = _number(v)
    if out.get("num_prompts") and "generation_wall_s" in out:
        out["wall_s_per_prompt"] = out["generation_wall_s"] / out["num_prompts"]
    if out.get("num_prompts") and "cpu_s" in out:
        out["cpu_s_per_prompt"] = out["cpu_s"] / out["num_prompts"]
    return out


def metric_columns(metrics: list[dict]) -> list[str]:
    """The fixed columns, with every judge's columns (:func:`judge_columns`) after Top@1 and Avg@N."""
    return [*REWARD_COLUMNS, *judge_columns(metrics), *COMPUTE_COLUMNS, *TIME_COLUMNS]


def judge_columns(metrics: list[dict]) -> list[str]:
    """``judges.<name>.<field>_mean`` of every judge of ``metrics`` (each run's blocks, an old flat
    judgement as its own), judges in the order the runs first name them, each judge's score first,
    then its Avg@N, then its other fields sorted."""
    fields: dict[str, set[str]] = {}
    for m in metrics:
        for name, block in judge_blocks(m).items():
            found = fields.setdefault(name, set())
            found |= {k for k, v in block.items() if k.endswith("_mean") and _number(v) is not None}
    return [
        f"{JUDGE_PREFIX}{name}.{key}"
        for name, found in fields.items()
        for key in [*(k for k in JUDGE_FIRST if k in found), *sorted(found - set(JUDGE_FIRST))]
    ]


def judge_score_columns(rows: list[dict]) -> list[str]:
    """Each judge's score column (``judges.<name>.score_mean``) among the keys of report ``rows``, in order."""
    keys = dict.fromkeys(k for r in rows for k in r)
    return [k for k in keys if k.startswith(JUDGE_PREFIX) and k.endswith(".score_mean")]


def latest_judge_columns(metrics: list[dict]) -> list[str]:
    """metrics.json's flat ``judge_score_mean`` and ``judge_<field>_mean`` (each run's latest judge):
    kept in the report's rows for the frontier plot and older readers, not shown as table columns."""
    found = {k for m in metrics for k in m if JUDGE_FIELD.match(k) and _number(m[k]) is not None}
    return [k for k in ("judge_score_mean",) if k in found] + sorted(found - {"judge_score_mean"})


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
    """A column's table header: ``judge[<name>]`` for a judge's score, ``judge[<name>] <field>`` for its
    other fields (``Avg@N`` for its mean score over all K)."""
    if column.startswith(JUDGE_PREFIX) and column.endswith("_mean") and "." in column[len(JUDGE_PREFIX) :]:
        name, key = column[len(JUDGE_PREFIX) :].rsplit(".", 1)
        field = {"score_mean": "", "score_avgN_mean": " Avg@N"}.get(key, f" {key[: -len('_mean')]}")
        return f"judge[{name}]{field}"
    match = JUDGE_FIELD.match(column)
    return LABELS.get(column) or (f"judge {match.group(1)}" if match else column)
