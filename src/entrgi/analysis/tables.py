"""Markdown and CSV views of report rows (flat dicts: axes, then ``<metric>`` / ``<metric>_sem``)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from entrgi.analysis.aggregate import JUDGE_PREFIX, TIME_COLUMNS, column_label, judge_score_columns
from entrgi.analysis.runs import short_name, short_value

COUNT_COLUMNS = ("compute.dllm_forwards", "compute.reward_forwards", "compute.reward_backwards")
FLOP_COLUMNS = ("compute.flops_per_prompt", "compute.flops")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def format_flops(value: float | None) -> str:
    """1.5e12 -> '1.50 TFLOPs'; blank when missing."""
    if _missing(value):
        return ""
    for scale, unit in ((1e18, "EFLOPs"), (1e15, "PFLOPs"), (1e12, "TFLOPs"), (1e9, "GFLOPs"), (1e6, "MFLOPs")):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.3g} FLOPs"


def format_cell(column: str, mean: float | None, sem: float | None = None) -> str:
    """A table cell: mean ± SEM for rewards and times, FLOPs with units, counts as integers; blank if missing."""
    if _missing(mean):
        return ""
    if column in FLOP_COLUMNS:
        return format_flops(mean)
    if column in COUNT_COLUMNS:
        return f"{mean:,.0f}"
    digits = 2 if column in TIME_COLUMNS else 3
    text = f"{mean:.{digits}f}"
    return text if _missing(sem) else f"{text} ± {sem:.{digits}f}"


class Footnotes:
    """Blank cells that have a reason (``row["blank"][column]``) show ``n/a [n]``; each reason goes under the
    table once, after the columns it explains."""

    def __init__(self) -> None:
        self.reasons: dict[str, tuple[int, list[str]]] = {}  # reason -> (number, column labels)

    def cell(self, text: str, row: dict, column: str, label: str) -> str:
        reason = (row.get("blank") or {}).get(column)
        if text or not reason:
            return text
        number, labels = self.reasons.setdefault(reason, (len(self.reasons) + 1, []))
        if label not in labels:
            labels.append(label)
        return f"n/a [{number}]"

    def under(self, table: str) -> str:
        notes = [f"[{n}] {', '.join(labels)}: {reason}." for reason, (n, labels) in self.reasons.items()]
        return "\n".join([table, "", *notes]) if notes else table


def _table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def method_table(rows: list[dict], axes: list[str], columns: list[str]) -> str:
    """One line per group: method, the shown axes, runs, each metric's mean ± SEM, BoN at matched FLOPs; a blank
    cell with a known reason shows ``n/a [n]``, the reason under the table."""
    notes = Footnotes()
    head = [
        "method",
        *(short_name(a) for a in axes),
        "runs",
        *(column_label(c) for c in columns),
        "BoN @ matched FLOPs",
    ]
    body = [
        [
            r["method"],
            *(short_value(a, r[a]) for a in axes),
            str(r["runs"]),
            *(notes.cell(format_cell(c, r.get(c), r.get(f"{c}_sem")), r, c, column_label(c)) for c in columns),
            notes.cell(
                format_cell("top1_reward_mean", r.get("bon_matched_top1")), r, "bon_matched_top1", "BoN @ matched FLOPs"
            ),
        ]
        for r in rows
    ]
    return notes.under(_table(head, body))


def win_rate_table(rows: list[dict]) -> str:
    """Paired Top@1 win-rate of each guided group against its BoN group, with the bootstrap 95% interval."""
    body = [
        [
            r["group"],
            r["bon_group"],
            str(r["win_pairs"]),
            f"{r['win_rate']:.3f}",
            f"[{r['win_rate_low']:.3f}, {r['win_rate_high']:.3f}]",
        ]
        for r in rows
        if r.get("win_rate") is not None
    ]
    return _table(["group", "vs BoN", "pairs", "win-rate", "95% CI"], body) if body else ""


def frontier_table(rows: list[dict]) -> str:
    """Compute and quality per group, and whether it is on the Top@1 Pareto front by FLOPs and by wall time
    (``frontier.pareto_front``: costs within ``COST_TOLERANCE`` count as equal); blank cells' reasons below."""

    def text(r: dict, column: str) -> str:
        if column.startswith("front_"):
            return "" if r.get(column) is None else ("yes" if r[column] else "no")
        if column in FLOP_COLUMNS:
            return format_flops(r.get(column))
        sem = r.get(f"{column}_sem") if column == "top1_reward_mean" or column.startswith(JUDGE_PREFIX) else None
        return format_cell(column, r.get(column), sem)

    notes = Footnotes()
    cells = (
        ("compute.flops_per_prompt", "FLOPs/prompt"),
        ("wall_s_per_prompt", "wall s/prompt"),
        ("cpu_s_per_prompt", "CPU s/prompt"),
        ("top1_reward_mean", "Top@1"),
        *((j, column_label(j)) for j in judge_score_columns(rows)),  # judge[<name>]: every judge's score
        ("front_flops", "front (FLOPs)"),
        ("front_wall", "front (wall)"),
    )
    body = [[r["group"], *(notes.cell(text(r, c), r, c, label) for c, label in cells)] for r in rows]
    return notes.under(_table(["group", *(label for _, label in cells)], body))


def to_csv(rows: list[dict], axes: list[str], columns: list[str]) -> str:
    """One row per group: axes, method, runs, seeds, then ``<metric>`` and ``<metric>_sem`` per metric."""
    fields = ["group", "method", *axes, "runs", "seeds"]
    for c in columns:
        fields += [c, f"{c}_sem"]
    fields += [
        "bon_matched_top1",
        "bon_group",
        "win_rate",
        "win_rate_low",
        "win_rate_high",
        "win_pairs",
        "front_flops",
        "front_wall",
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(
            {
                k: "" if _missing(r.get(k)) else (" ".join(map(str, r[k])) if isinstance(r[k], list) else r[k])
                for k in fields
            }
        )
    return out.getvalue()
