"""Quality against compute: the Pareto front of a sweep and Best-of-N at matched FLOPs."""

from __future__ import annotations

import math
from collections.abc import Sequence

COST_TOLERANCE = 0.01  # relative: costs within 1% of each other count as equal on the Pareto front


def _finite(*values: float | None) -> bool:
    return all(v is not None and not math.isnan(v) for v in values)


def same_cost(a: float, b: float, rel_tol: float = COST_TOLERANCE) -> bool:
    """Costs within ``rel_tol`` of the larger one count as equal (padding and rounding move FLOPs a little)."""
    return abs(a - b) <= rel_tol * max(abs(a), abs(b))


def pareto_front(xs: Sequence[float | None], ys: Sequence[float | None], rel_tol: float = COST_TOLERANCE) -> list[bool]:
    """Which points no other point dominates: min x (cost), max y (quality).

    q dominates p when q costs no more (or the two costs are within ``rel_tol`` of each other, which
    counts as the same cost) and scores at least as high, with one of the two strict: a higher score,
    or a cost lower by more than ``rel_tol``. So points of near-equal cost are compared on quality
    alone; ``rel_tol=0`` is plain dominance. Points with a missing coordinate are never on the front.
    """
    points = [(x, y) if _finite(x, y) else None for x, y in zip(xs, ys, strict=True)]

    def dominates(q: tuple[float, float], p: tuple[float, float]) -> bool:
        tie = same_cost(q[0], p[0], rel_tol)
        cheaper = q[0] < p[0] and not tie
        return (cheaper or tie) and q[1] >= p[1] and (q[1] > p[1] or cheaper)

    front = []
    for i, p in enumerate(points):
        dominated = p is None or any(q is not None and j != i and dominates(q, p) for j, q in enumerate(points))
        front.append(not dominated)
    return front


def front_steps(xs: Sequence[float], ys: Sequence[float], front: Sequence[bool]) -> tuple[list[float], list[float]]:
    """The front's points sorted by x (for a ``where="post"`` step line)."""
    pts = sorted((x, y) for x, y, f in zip(xs, ys, front, strict=True) if f)
    return [p[0] for p in pts], [p[1] for p in pts]


def matched_bon(flops: float | None, bon: Sequence[tuple[float, float]]) -> float | None:
    """BoN Top@1 at ``flops``: linear in log(flops) between the BoN points (flops, top1) around it.

    None when ``flops`` is missing or outside the BoN points' range (no extrapolation).
    """
    pts = sorted((f, y) for f, y in bon if _finite(f, y) and f > 0)
    if not _finite(flops) or not pts or flops <= 0 or not pts[0][0] <= flops <= pts[-1][0]:
        return None
    for (f0, y0), (f1, y1) in zip(pts, pts[1:], strict=False):
        if f0 <= flops <= f1:
            if f1 == f0:
                return (y0 + y1) / 2
            t = (math.log(flops) - math.log(f0)) / (math.log(f1) - math.log(f0))
            return y0 + t * (y1 - y0)
    return pts[0][1]  # a single BoN point at exactly these flops


def _flops(value: float) -> str:
    for scale, unit in ((1e15, "PFLOPs"), (1e12, "TFLOPs"), (1e9, "GFLOPs"), (1e6, "MFLOPs")):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value:.4g} FLOPs"


def matched_bon_gap(flops: float | None, bon: Sequence[tuple[float | None, float | None]]) -> str | None:
    """Why :func:`matched_bon` has no value at ``flops`` (None when it has one), in words for a reader."""
    pts = sorted({f for f, y in bon if _finite(f, y) and f > 0})
    giga = [_flops(f) for f in (flops if _finite(flops) else 0.0, *pts)]
    if not bon:
        return "no BoN group on the same non-guidance axes"
    if not _finite(flops) or flops <= 0:
        return "this group has no FLOPs per prompt (its runs recorded no `compute`)"
    if not pts:
        return "the BoN groups lack FLOPs per prompt or Top@1 (their runs recorded no `compute`?)"
    if matched_bon(flops, [(f, y) for f, y in bon if _finite(f, y)]) is not None:
        return None
    if len(pts) == 1:
        return (
            f"BoN ran at one FLOPs per prompt only ({giga[1]}), so there is no BoN curve to interpolate "
            "along; run BoN at two or more K around this group's FLOPs"
        )
    side = "below" if flops < pts[0] else "above"
    return (
        f"this group's FLOPs per prompt ({giga[0]}) lie {side} the BoN groups' range "
        f"({giga[1]} to {giga[-1]}); BoN is not extrapolated"
    )
