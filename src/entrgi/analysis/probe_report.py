"""The soft-input probe's report (``python -m entrgi.probe``): a table per (stage, entropy bin), its CSV,
the raw rows' CSV and a plot.

Input: the engine's rows (:func:`entrgi.engine.probe.measure`: one per trajectory and entropy bin at a
probed step), each with a ``stage`` added by the job. Every number is a mean over trajectories ± SEM.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from entrgi.analysis.stats import mean_sem
from entrgi.outputs.atomic import write_text
from entrgi.outputs.files import PROBE_CSV, PROBE_MD, PROBE_PLOT, PROBE_ROWS_CSV

NAMES = {"expectation": "Expectation", "aps": "APS", "entrgi": "EntRGi"}
_KEYS = ("stage", "step", "bin", "lo", "hi", "row", "samples", "target", "sample_id", "k")  # not averaged


def methods_of(rows: Sequence[dict]) -> list[str]:
    """The method labels whose gradients the rows compare (``cos_<label>``), in their order."""
    return [c[4:] for c in rows[0] if c.startswith("cos_") and not c.endswith("_avg")] if rows else []


def _finite(values) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _target(group: Sequence[dict]) -> str:
    kinds = sorted({r["target"] for r in group})
    draws = sorted({r["samples"] for r in group if r["target"] == "reinforce"})
    return " + ".join(f"reinforce ({'/'.join(map(str, draws))} draws)" if k == "reinforce" else k for k in kinds)


def _summary(group: Sequence[dict], stage: str, step: str) -> dict:
    first = group[0]
    out = {"stage": stage, "step": step, "bin": first["bin"], "lo": first["lo"], "hi": first["hi"]}
    out |= {"trajectories": len(group), "positions": int(sum(r["positions"] for r in group)), "target": _target(group)}
    for col in (c for c in first if c not in _KEYS and c != "positions"):
        out[col], out[f"{col}_sem"] = mean_sem(_finite(r[col] for r in group))
    out["abs_gap"], out["abs_gap_sem"] = mean_sem(_finite(abs(r["gap"]) for r in group))
    # the cosine of the full estimate with the exact gradient, from its halves' (Spearman-Brown; isotropic noise)
    split = out["split_cos"]
    out["target_cos"] = math.sqrt(2 * split / (1 + split)) if math.isfinite(split) and split > 0 else float("nan")
    sd = out["hard_sd"]
    out["gap_per_sd"] = out["gap"] / sd if math.isfinite(sd) and sd > 1e-6 else float("nan")
    return out


def summarize(rows: Sequence[dict]) -> list[dict]:
    """One row per (stage, bin), then one per bin over every stage (``stage`` = ``all``)."""
    table = []
    stages = sorted({(r["stage"], r["step"]) for r in rows})
    for stage, step in stages:
        for b in sorted({r["bin"] for r in rows if r["step"] == step}):
            group = [r for r in rows if r["step"] == step and r["bin"] == b]
            table.append(_summary(group, f"{stage:g}", str(step)))
    if len(stages) > 1:
        for b in sorted({r["bin"] for r in rows}):
            table.append(_summary([r for r in rows if r["bin"] == b], "all", "all"))
    return table


def _cell(row: dict, col: str, digits: int = 3) -> str:
    mean, sem = row.get(col), row.get(f"{col}_sem")
    if mean is None or not math.isfinite(mean):
        return ""
    return f"{mean:.{digits}f}" + (f" ± {sem:.{digits}f}" if sem is not None and math.isfinite(sem) else "")


def markdown_table(table: Sequence[dict], methods: Sequence[str]) -> str:
    names = [NAMES.get(m, m) for m in methods]
    head = ["stage", "step", "H / log V", "traj", "pos", "H", "support", "hard sd", "soft − hard", "\\|soft − hard\\|"]
    head += ["÷ hard sd", *(f"{n} − hard" for n in names), *(f"cos {n}" for n in names), "target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table:
        split, ceiling = _cell(r, "split_cos", 2), _cell(r, "target_cos", 2)
        cells = [r["stage"], r["step"], f"[{r['lo']:.2f}, {r['hi']:.2f})", str(r["trajectories"]), str(r["positions"])]
        cells += [_cell(r, "entropy", 2), _cell(r, "support", 1), _cell(r, "hard_sd"), _cell(r, "gap")]
        cells += [_cell(r, "abs_gap"), "" if not math.isfinite(r["gap_per_sd"]) else f"{r['gap_per_sd']:+.2f}"]
        cells += [_cell(r, f"gap_{m}") for m in methods] + [_cell(r, f"cos_{m}") for m in methods]
        cells.append(r["target"] + (f"; split {split}" if split else "") + (f", ceiling {ceiling}" if ceiling else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paired_table(rows: Sequence[dict], methods: Sequence[str]) -> str:
    """Per entropy bin, every stage pooled: each method's cosine minus the first method's, paired per
    trajectory (one draw per inner step, and the draw-averaged gradient: ``avg``), mean ± SEM."""
    if len(methods) < 2:
        return ""
    first, names = methods[0], [NAMES.get(m, m) for m in methods]
    head = ["H / log V", "pairs"]
    head += [f"{n}{tag} − {names[0]}" for n in names[1:] for tag in ("", " (avg)")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for b in sorted({r["bin"] for r in rows}):
        group = [r for r in rows if r["bin"] == b]
        cells, pairs = [], 0
        for m in methods[1:]:
            for tag in ("", "_avg"):
                diffs = _finite(r[f"cos_{m}{tag}"] - r[f"cos_{first}{tag}"] for r in group)
                pairs = max(pairs, len(diffs))
                mean, sem = mean_sem(diffs)
                cells.append(_cell({"d": mean, "d_sem": sem}, "d"))
        lines.append(f"| [{group[0]['lo']:.2f}, {group[0]['hi']:.2f}) | {pairs} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[dict]) -> str:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()})
    return out.getvalue()


def plot_probe(table: Sequence[dict], methods: Sequence[str]) -> Figure:
    """Left: soft − hard reward by entropy bin, one line per stage. Right: each method's gradient cosine
    with the expected-hard-reward gradient by entropy bin (every stage pooled), the estimate's ceiling grey."""
    fig = Figure(figsize=(11, 4.2))
    gap_ax, cos_ax = fig.subplots(1, 2)
    for stage in dict.fromkeys(r["stage"] for r in table):
        rows = [r for r in table if r["stage"] == stage]
        x = [(r["lo"] + r["hi"]) / 2 for r in rows]
        label = "all stages" if stage == "all" else f"stage {stage} (step {rows[0]['step']})"
        style = {"color": "black", "lw": 2} if stage == "all" else {}
        gap_ax.errorbar(
            x, [r["gap"] for r in rows], yerr=[r["gap_sem"] for r in rows], marker="o", label=label, **style
        )
    gap_ax.axhline(0, color="grey", lw=0.8)
    gap_ax.set(xlabel="normalized entropy H / log V (bin centre)", ylabel="R(soft) − mean R(hard draws)")
    gap_ax.set_title("does the reward read soft inputs like hard ones?", fontsize=10)
    gap_ax.legend(fontsize=8)
    pooled = [r for r in table if r["stage"] == "all"] or list(table)
    x = [(r["lo"] + r["hi"]) / 2 for r in pooled]
    for m in methods:
        y, err = [r[f"cos_{m}"] for r in pooled], [r[f"cos_{m}_sem"] for r in pooled]
        cos_ax.errorbar(x, y, yerr=err, marker="o", label=NAMES.get(m, m))
    if any(math.isfinite(r.get("target_cos", math.nan)) for r in pooled):
        ceiling = [r["target_cos"] for r in pooled]
        cos_ax.plot(x, ceiling, color="grey", ls=":", marker=".", label="ceiling (target's own noise)")
    cos_ax.axhline(0, color="grey", lw=0.8)
    cos_ax.set(xlabel="normalized entropy H / log V (bin centre)", ylabel="cosine with grad E[R(hard)]")
    cos_ax.set_title("which gradient points where the expected hard reward rises?", fontsize=10)
    cos_ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_probe_report(folder: Path | str, rows: Sequence[dict], header: str, plots: bool = True) -> dict[str, Path]:
    """Write probe.md (``header``, then the table), probe.csv, probe_rows.csv and probe.png into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table, methods = summarize(rows), methods_of(rows)
    written = {"csv": folder / PROBE_CSV, "rows": folder / PROBE_ROWS_CSV, "markdown": folder / PROBE_MD}
    write_text(written["csv"], to_csv(table))
    write_text(written["rows"], to_csv(rows))
    body = markdown_table(table, methods) if table else "No masked position was probed.\n"
    paired = paired_table(rows, methods) if table else ""
    if paired:
        body += "\nCosine differences, paired per trajectory, every stage pooled (`avg`: of the draw-averaged "
        body += "gradients; a deterministic method's is its own):\n\n"
        body += paired
    if plots and table:
        written["plot"] = folder / PROBE_PLOT
        plot_probe(table, methods).savefig(written["plot"], dpi=110)
        body += f"\n![probe]({PROBE_PLOT})\n"
    write_text(written["markdown"], header.rstrip() + "\n\n" + body)
    return written
