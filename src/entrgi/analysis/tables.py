"""Markdown and CSV views of report rows (flat dicts: axes, then ``<metric>`` / ``<metric>_sem``)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from entrgi.analysis.aggregate import TIME_COLUMNS, column_label

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


def markdown_table(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines)


def _varies(rows: list[dict], column: str) -> bool:
    values = {round(r[column], 9) for r in rows if not _missing(r.get(column))}
    return len(values) > 1


def _copy_of(rows: list[dict], column: str, others: list[str]) -> str | None:
    """The first of ``others`` equal to ``column`` in every row (e.g. the oracle's ``oracle_total`` = its score)."""
    for o in others:
        if o != column and all(
            (_missing(r.get(column)) and _missing(r.get(o)))
            or (not _missing(r.get(column)) and not _missing(r.get(o)) and abs(r[column] - r[o]) <= 1e-12)
            for r in rows
        ):
            return o
    return None


def long_table(rows: list[dict], columns: list[str], shown_elsewhere: tuple = ()) -> tuple[str, list[str]]:
    """(group | metric | value | ±, one line per group and metric that varies across groups; sentences on the
    columns left out: constant over every group, or a copy of an earlier column or of one in ``shown_elsewhere``)."""
    shown, said = [], []
    for i, c in enumerate(columns):
        present = [r for r in rows if not _missing(r.get(c))]
        twin = _copy_of(rows, c, [*shown_elsewhere, *columns[:i]])
        if present and not _varies(rows, c) and len(rows) > 1:
            said.append(f"{column_label(c)} is {format_cell(c, present[0][c])} in every group.")
        elif twin is not None:
            said.append(f"{column_label(c)} equals {column_label(twin)} in every group.")
        elif present:
            shown.append(c)
    body = [
        [r["group"], column_label(c), format_cell(c, r.get(c)), format_cell(c, r.get(f"{c}_sem"))]
        for r in rows
        for c in shown
        if not _missing(r.get(c))
    ]
    return (markdown_table(["group", "metric", "value", "±"], body) if body else ""), said


def to_csv(rows: list[dict], axes: list[str], columns: list[str]) -> str:
    """One row per group: axes, method, runs, seeds, then ``<metric>`` and ``<metric>_sem`` per metric."""
    fields = ["group", "method", *axes, "runs", "seeds"]
    for c in columns:
        fields += [c, f"{c}_sem"]
    fields += [
        "vs_bon_group",
        "vs_bon_top1",
        "vs_bon_top1_low",
        "vs_bon_top1_high",
        "vs_bon_pairs",
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
