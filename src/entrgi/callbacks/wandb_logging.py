"""Weights & Biases logging of a finished run, from rank 0.

Per denoising step curves share the x-axis ``denoise/step``; per prompt Top@1 / Avg@N use
``prompt/index``; a generations table, an entropy heatmap per prompt for the first prompts, and
summary metrics complete the run.
"""

from __future__ import annotations

import math
from typing import Any

CURVES = {"entropy_mean": "denoise/entropy_mean", "entropy_min": "denoise/entropy_min",
          "entropy_max": "denoise/entropy_max", "w_mean": "denoise/w_mean",
          "reward_soft_before": "denoise/reward_soft_before", "reward_soft_after": "denoise/reward_soft_after",
          "committed": "denoise/tokens_committed"}


def _nanmean(values: list) -> float | None:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


def step_curves(records: list[dict]) -> list[dict[str, float]]:
    """Means over prompts of each trace key, one dict per denoising step."""
    if not records:
        return []
    steps = len(records[0]["trace"]["committed"])
    rows = []
    for t in range(steps):
        row = {"denoise/step": t}
        for key, name in CURVES.items():
            value = _nanmean([r["trace"][key][t] for r in records])
            if value is not None:
                row[name] = value
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


def log_run(run: Any, records: list[dict], metrics: dict, heatmaps: int = 4) -> None:
    """Log curves, per-prompt metrics, the generations table, heatmaps and the summary to ``run``."""
    import wandb

    run.define_metric("denoise/step")
    run.define_metric("denoise/*", step_metric="denoise/step")
    run.define_metric("prompt/index")
    run.define_metric("prompt/*", step_metric="prompt/index")
    for row in step_curves(records):
        run.log(row)
    for i, r in enumerate(records):
        row = {"prompt/index": i, "prompt/top1_reward": r["top1_reward"], "prompt/avgN_reward": r["avgN_reward"]}
        for key, value in r.get("judge", {}).items():
            if isinstance(value, (int, float)):
                row[f"prompt/judge_{key}"] = float(value)
        run.log(row)
    table = wandb.Table(columns=["sample_id", "prompt", "k", "response", "reward", "best"])
    for r in records:
        for k, (resp, rew) in enumerate(zip(r["responses"], r["rewards"])):
            table.add_data(r["sample_id"], r["prompt"], k, resp, rew, k == r["best_index"])
    images = {}
    for r in [r for r in records if "entropy_map" in r][:heatmaps]:
        import matplotlib.pyplot as plt

        fig = entropy_heatmap(r)
        images[f"entropy_heatmap/{r['sample_id']}"] = wandb.Image(fig)
        plt.close(fig)
    run.log({"generations": table, **images})
    run.summary.update({k: v for k, v in metrics.items() if isinstance(v, (int, float, str)) or v is None})
