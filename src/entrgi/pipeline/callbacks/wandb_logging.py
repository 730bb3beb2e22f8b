"""Weights & Biases logging of a finished run, from rank 0.

Per denoising step curves, one per trace key (the denoiser's and whatever statistics the guidance
method reports, ``denoise/<key>``), share the x-axis ``denoise/step``; per prompt Top@1 / Avg@N use
``prompt/index``; a generations table, an entropy heatmap per prompt for the first prompts, and
summary metrics complete the run. The per-batch rows logged while the run goes are in
``wandb_stream``; both leave W&B's ``_step`` to count ``run.log`` calls and chart against their
own x-axis keys, defined by exact name (an exact definition wins over Lightning's ``*`` glob).
"""

from __future__ import annotations

import math
from typing import Any

from entrgi.judges.apply import record_judges

DENOISE_STEP = "denoise/step"
PROMPT_INDEX = "prompt/index"
PROMPT_TOP1 = "prompt/top1_reward"
PROMPT_AVGN = "prompt/avgN_reward"
PROMPT_JUDGE_PREFIX = "prompt/judge_"  # + each numeric judge field: prompt/judge_score, ...
PROMPT_JUDGE_SCORE = PROMPT_JUDGE_PREFIX + "score"
PROMPT_JUDGES_PREFIX = "prompt/judges/"  # + <judge name>/<field>: every judge's fields, prompt/judges/oracle/score
GENERATIONS_TABLE = "generations"
HEATMAP_PREFIX = "entropy_heatmap/"  # + sample_id
# What ``entrgi.report`` logs to W&B in its own run (the workspace's "Report" section shows these keys).
REPORT_PREFIX = "report/"
REPORT_TABLE = REPORT_PREFIX + "table"  # a wandb.Table: one row per group of runs (mean +- SEM over seeds)
REPORT_PLOTS = tuple(REPORT_PREFIX + name for name in ("frontier", "soft_reward", "entropy_w", "w_hist", "denoising"))
# trace key -> W&B key for the keys whose name differs from or predates the rule: every other trace key,
# a guidance method's own statistics included, is logged as ``denoise/<key>`` (:func:`curve_name`)
CURVES = {
    "entropy_mean": "denoise/entropy_mean",
    "entropy_min": "denoise/entropy_min",
    "entropy_max": "denoise/entropy_max",
    "w_mean": "denoise/w_mean",
    "reward_soft_before": "denoise/reward_soft_before",
    "reward_soft_after": "denoise/reward_soft_after",
    "committed": "denoise/tokens_committed",
}


def _nanmean(values: list) -> float | None:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


def _at(values: list | None, t: int):
    return values[t] if values is not None and t < len(values) else None


def curve_name(key: str) -> str:
    """The W&B key of trace key ``key``: ``denoise/<key>`` unless :data:`CURVES` names it."""
    return CURVES.get(key, f"denoise/{key}")


def step_curves(records: list[dict]) -> list[dict[str, float]]:
    """Means over prompts of every trace key any record has, one dict per denoising step; a record
    without the key (or its null values) does not count, and a step with no value leaves the key out."""
    traces = [r.get("trace") or {} for r in records]
    keys = list(dict.fromkeys(key for trace in traces for key in trace))
    steps = max((len(values or []) for trace in traces for values in trace.values()), default=0)
    rows = []
    for t in range(steps):
        row = {DENOISE_STEP: t}
        for key in keys:
            value = _nanmean([_at(trace.get(key), t) for trace in traces])
            if value is not None:
                row[curve_name(key)] = value
        rows.append(row)
    return rows


def entropy_heatmap(record: dict):
    """A [step x position] image of trajectory 0's normalized entropy (blank once committed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    grid = np.array([[np.nan if v is None else v for v in row] for row in record["entropy_map"]], dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4))
    im = ax.imshow(grid, aspect="auto", origin="upper", cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xlabel("response position")
    ax.set_ylabel("denoising step")
    ax.set_title(f"entropy H/log V — {record['sample_id']}")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def _flat_summary(metrics: dict) -> dict[str, Any]:
    """Scalars of ``metrics``; nested dicts (``compute``, ``skipped``, ...) become ``compute/flops`` etc."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out |= {f"{key}/{k}": v for k, v in _flat_summary(value).items()}
        elif isinstance(value, (int, float, str)) or value is None:
            out[key] = value
    return out


def define_axes(run: Any, keys: set[str]) -> None:
    """``denoise/*`` against ``denoise/step`` and ``prompt/*`` against ``prompt/index``, globs and exact keys."""
    from entrgi.pipeline.callbacks.wandb_stream import release_lightning_glob

    release_lightning_glob(run)
    for axis, glob in ((DENOISE_STEP, "denoise/*"), (PROMPT_INDEX, "prompt/*")):
        run.define_metric(axis)
        run.define_metric(glob, step_metric=axis)
        for key in sorted(k for k in keys if k.startswith(glob[:-1]) and k != axis):
            run.define_metric(key, step_metric=axis)


def _numeric(fields: dict | None, prefix: str) -> dict[str, float]:
    """The numeric fields (bools too, as 0.0 / 1.0) of a judge's Top@1 fields, keyed ``prefix + field``."""
    return {f"{prefix}{k}": float(v) for k, v in (fields or {}).items() if isinstance(v, (int, float))}


def prompt_rows(records: list[dict]) -> list[dict[str, float]]:
    """One row per prompt: Top@1, Avg@N, each numeric judge field of the Top@1 response by the latest
    judge (``prompt/judge_<field>``) and by every judge (``prompt/judges/<name>/<field>``)."""
    rows = []
    for i, r in enumerate(records):
        row = {PROMPT_INDEX: i} | {
            key: r[field]
            for key, field in ((PROMPT_TOP1, "top1_reward"), (PROMPT_AVGN, "avgN_reward"))
            if r.get(field) is not None
        }  # null: every final reward non-finite
        row |= _numeric(r.get("judge"), PROMPT_JUDGE_PREFIX)
        for name, block in record_judges(r).items():
            row |= _numeric(block.get("top1") if isinstance(block, dict) else None, f"{PROMPT_JUDGES_PREFIX}{name}/")
        rows.append(row)
    return rows


def judge_names(records: list[dict]) -> list[str]:
    """Every judge name of ``records``, in the order they first appear."""
    return list(dict.fromkeys(name for r in records for name in record_judges(r)))


def judge_scores(record: dict, names: list[str]) -> list[list]:
    """Per response of ``record``, each judge's ``score`` (None where that judge left none)."""
    blocks = record_judges(record)
    every = [(blocks.get(n) or {}).get("all") or [] for n in names]

    def score(fields: list, k: int):
        return fields[k].get("score") if k < len(fields) and isinstance(fields[k], dict) else None

    return [[score(fields, k) for fields in every] for k in range(len(record["responses"]))]


def log_run(run: Any, records: list[dict], metrics: dict, heatmaps: int = 4) -> None:
    """Log curves, per-prompt metrics, the generations table, heatmaps and the summary to ``run``."""
    import wandb

    curves, per_prompt = step_curves(records), prompt_rows(records)
    define_axes(run, {k for row in curves + per_prompt for k in row})
    for row in curves + per_prompt:
        run.log(row)
    names = judge_names(records)
    columns = ["sample_id", "prompt", "k", "response", "reward", "best", *(f"judge[{n}]" for n in names)]
    table = wandb.Table(columns=columns)
    for r in records:
        scores = judge_scores(r, names)
        for k, (resp, rew) in enumerate(zip(r["responses"], r["rewards"], strict=True)):
            table.add_data(r["sample_id"], r["prompt"], k, resp, rew, k == r["best_index"], *scores[k])
    images = {}
    for r in [r for r in records if "entropy_map" in r][:heatmaps]:
        import matplotlib.pyplot as plt

        fig = entropy_heatmap(r)
        images[f"{HEATMAP_PREFIX}{r['sample_id']}"] = wandb.Image(fig)
        plt.close(fig)
    run.log({GENERATIONS_TABLE: table, **images})
    run.summary.update(_flat_summary(metrics))
