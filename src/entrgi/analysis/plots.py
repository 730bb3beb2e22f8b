"""Report figures: the quality/compute frontier, denoising traces per group, particle runs' ESS, entropy heatmaps.

Every function returns a ``matplotlib.figure.Figure`` (no pyplot state, so notebooks show each
figure once and scripts need no display); ``Report.write`` saves them under ``plots/``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from entrgi.analysis.frontier import COST_TOLERANCE, front_steps, pareto_front, same_cost
from entrgi.analysis.runs import Group

FRONTIER_X = (("compute.flops_per_prompt", "FLOPs per prompt", True), ("wall_s_per_prompt", "wall s per prompt", False))
FRONTIER_Y = (("top1_reward_mean", "Top@1 (guiding reward)"), ("judge_score_mean", "judge score of Top@1"))


def step_means(records: Sequence[dict], key: str) -> np.ndarray:
    """Mean over records of ``trace[key]`` per denoising step (nan where no record defines it). [T]"""
    rows = [[np.nan if v is None else v for v in (r.get("trace") or {}).get(key) or []] for r in records]
    steps = max((len(r) for r in rows), default=0)
    grid = np.full((len(rows), steps), np.nan)
    for i, row in enumerate(rows):
        grid[i, : len(row)] = row
    with np.errstate(all="ignore"):
        counts = np.sum(~np.isnan(grid), axis=0)
        return np.where(counts > 0, np.nansum(grid, axis=0) / np.maximum(counts, 1), np.nan)


def _records(group: Group) -> list[dict]:
    return [rec for run in group.runs for rec in run.records]


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _trace_style(values: np.ndarray, line: str, marker: str) -> dict:
    """A per-step curve with unguided steps (nan: guidance.every / until) is drawn as dotted points,
    which a plain line would break into nothing."""
    return {"ls": ":", "marker": marker} if np.isnan(values).any() else {"ls": line}


def _si_tick(value: float, _pos=None) -> str:
    """20G, 100G, 1.5T: FLOPs ticks a reader takes in at a glance."""
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{unit}"
    return f"{value:g}"


def equal_cost(rows: list[dict]) -> bool:
    """Every group with FLOPs per prompt costs the same within ``COST_TOLERANCE`` (at least two groups)."""
    costs = [r["compute.flops_per_prompt"] for r in rows if _finite(r.get("compute.flops_per_prompt"))]
    return len(costs) >= 2 and same_cost(min(costs), max(costs))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not np.isnan(value)


def plot_ranked(rows: list[dict]) -> Figure:
    """A sweep of equal costs: each score per group, ranked, with ± SEM over seeds (no cost axis to spread)."""
    metrics = [(k, label) for k, label in FRONTIER_Y if any(_finite(r.get(k)) for r in rows)]
    fig = Figure(figsize=(6 * max(len(metrics), 1), 0.45 * len(rows) + 2))
    axes = fig.subplots(1, max(len(metrics), 1), squeeze=False)[0]
    for ax, (key, label) in zip(axes, metrics, strict=False):
        ranked = sorted((r for r in rows if _finite(r.get(key))), key=lambda r: r[key])
        sems = [r.get(f"{key}_sem") for r in ranked]
        ax.errorbar(
            [r[key] for r in ranked],
            range(len(ranked)),
            xerr=[s if _finite(s) else 0.0 for s in sems],
            fmt="o",
            capsize=3,
        )
        ax.set_yticks(range(len(ranked)), [r["group"] for r in ranked])
        ax.set_xlabel(f"{label} (mean ± SEM over seeds)")
        ax.grid(alpha=0.3, axis="x")
    costs = [r["compute.flops_per_prompt"] for r in rows if _finite(r.get("compute.flops_per_prompt"))]
    fig.suptitle(f"Groups ranked (every group costs {_si_tick(min(costs))}-{_si_tick(max(costs))} FLOPs per prompt)")
    fig.tight_layout()
    return fig


def plot_frontier(rows: list[dict]) -> Figure:
    """2 x 2: Top@1 / judge score against FLOPs per prompt (log) / wall seconds per prompt, front marked; a sweep
    whose costs are all equal within ``COST_TOLERANCE`` gets the ranked dot plot (:func:`plot_ranked`) instead."""
    if equal_cost(rows):
        return plot_ranked(rows)
    fig = Figure(figsize=(12, 9))
    axes = fig.subplots(2, 2, squeeze=False)
    colors = _colors(len(rows))
    for i, (ykey, ylabel) in enumerate(FRONTIER_Y):
        for j, (xkey, xlabel, log) in enumerate(FRONTIER_X):
            ax = axes[i][j]
            xs = [r.get(xkey) for r in rows]
            ys = [r.get(ykey) for r in rows]
            front = pareto_front(xs, ys)
            for r, x, y, on, c in zip(rows, xs, ys, front, colors, strict=True):
                if x is None or y is None:
                    continue
                sem = r.get(f"{ykey}_sem")
                ax.errorbar(
                    x,
                    y,
                    yerr=None if sem is None or np.isnan(sem) else sem,
                    fmt="*" if on else "o",
                    ms=13 if on else 7,
                    color=c,
                    capsize=3,
                    mec="black" if on else c,
                    label=r.get("label", r["group"]),
                )
                ax.annotate(r.get("label", r["group"]), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
            fx, fy = front_steps(xs, ys, front)
            if fx:
                ax.step(fx, fy, where="post", color="gray", ls="--", lw=1, label="Pareto front")
            else:
                ax.text(
                    0.5,
                    0.5,
                    f"no runs with {xkey} and {ykey}",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="gray",
                )
            if log and fx:
                ax.set_xscale("log")
                ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
                ax.xaxis.set_major_formatter(FuncFormatter(_si_tick))
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(f"{ylabel.split(' (')[0]} vs {xlabel}")
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8)
    fig.suptitle(
        "Quality vs compute per group (mean ± SEM over seeds; ★ on the Pareto front: less compute, higher score;\n"
        f"costs within {COST_TOLERANCE:.0%} count as equal)"
    )
    fig.tight_layout(rect=(0, 0.07, 1, 0.94))
    return fig


def plot_soft_reward(groups: list[Group]) -> Figure:
    """The soft (relaxed) reward before and after the inner optimisation per denoising step, per guided group."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for g, c in zip(groups, _colors(len(groups)), strict=True):  # a group keeps its colour across figures
        if not g.guided:
            continue
        recs = _records(g)
        before, after = step_means(recs, "reward_soft_before"), step_means(recs, "reward_soft_after")
        if np.isnan(after).all() and np.isnan(before).all():
            continue
        ax.plot(before, color=c, label=f"{g.label}: before", **_trace_style(before, "--", "x"))
        ax.plot(after, color=c, label=f"{g.label}: after", **_trace_style(after, "-", "."))
    ax.set_xlabel("denoising step")
    ax.set_ylabel("soft reward (mean over prompts, K)")
    ax.set_title("Soft reward before (dashed) and after (solid) the guidance step")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_entropy_w(groups: list[Group]) -> Figure:
    """Two panels: mean normalized entropy at masked positions, and the mean relaxation weight w, per step."""
    fig = Figure(figsize=(12, 4.5))
    ax_h, ax_w = fig.subplots(1, 2)
    for g, c in zip(groups, _colors(len(groups)), strict=True):
        recs = _records(g)
        ax_h.plot(step_means(recs, "entropy_mean"), color=c, label=g.label)
        w = step_means(recs, "w_mean")
        if g.guided and not np.isnan(w).all():
            ax_w.plot(w, color=c, label=g.label, **_trace_style(w, "-", "."))
    ax_h.set_title("Entropy at masked positions")
    ax_h.set_ylabel("H / log V (mean over prompts, K)")
    ax_w.set_title("Relaxation weight w")
    ax_w.set_ylabel("w (mean over positions, prompts, K)")
    for ax in (ax_h, ax_w):
        ax.set_xlabel("denoising step")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_w_hist(groups: list[Group]) -> Figure:
    """The distribution of w: every prompt's per-step w_mean, one histogram per guided group."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for g, c in zip(groups, _colors(len(groups)), strict=True):
        if not g.guided:
            continue
        values = [v for rec in _records(g) for v in (rec.get("trace") or {}).get("w_mean") or [] if v is not None]
        if values:
            ax.hist(values, bins=30, range=(0.0, 1.0), histtype="step", lw=2, color=c, label=g.label)
    ax.set_xlabel("w (per-step mean over positions and K)")
    ax.set_ylabel("count (prompt x step)")
    ax.set_title("Distribution of the relaxation weight w")
    if ax.patches:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def has_trace(group: Group, key: str) -> bool:
    """Some record of ``group`` has a value of ``trace[key]`` (``ess``: a particle run's)."""
    return any(v is not None for rec in _records(group) for v in (rec.get("trace") or {}).get(key) or [])


def plot_ess(groups: list[Group]) -> Figure | None:
    """Effective sample size per denoising step (mean over prompts and seeds), one line per group that
    records ``trace.ess`` (particle runs); x where any prompt resampled. None when no group has it."""
    shown = [(g, c) for g, c in zip(groups, _colors(len(groups)), strict=True) if has_trace(g, "ess")]
    if not shown:
        return None
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for g, c in shown:
        recs = _records(g)
        ess = step_means(recs, "ess")
        known = np.flatnonzero(~np.isnan(ess))  # the steps that computed potentials, joined
        ax.plot(known, ess[known], "-o", color=c, ms=4, label=g.label)  # full: names the particles
        at = np.flatnonzero(np.nan_to_num(step_means(recs, "resampled")) > 0)
        if at.size:
            ax.plot(at, ess[at], "x", color=c, ms=9, mew=2)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("denoising step")
    ax.set_ylabel("ESS (1..K; mean over prompts, seeds)")
    ax.set_title("Effective sample size of the particles (x: a resampling at that step)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_heatmaps(panels: list[tuple[str, dict]]) -> Figure:
    """One [step x position] entropy image of trajectory 0 per (title, record) panel; blank once committed."""
    ncols = min(3, max(1, len(panels)))
    nrows = -(-max(1, len(panels)) // ncols)
    fig = Figure(figsize=(5 * ncols + 1, 4.2 * nrows + 0.5), layout="constrained")
    grid_axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in grid_axes[len(panels) :]:
        ax.set_axis_off()
    axes = grid_axes[: len(panels)]
    image = None
    for ax, (title, rec) in zip(axes, panels, strict=True):
        grid = np.array([[np.nan if v is None else v for v in row] for row in rec["entropy_map"]], dtype=float)
        image = ax.imshow(grid, aspect="auto", origin="upper", cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("response position")
        ax.set_ylabel("denoising step")
    if image is not None:
        fig.colorbar(image, ax=list(axes), label="H / log V (blank: committed)")
    sample = panels[0][1].get("sample_id") if panels else "?"
    fig.suptitle(f"Entropy of trajectory 0 per position and step — prompt {sample}")
    return fig
