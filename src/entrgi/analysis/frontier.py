"""Quality against compute: the Pareto front of a sweep and Best-of-N at matched FLOPs."""

from __future__ import annotations

import math
from collections.abc import Sequence


def _finite(*values: float | None) -> bool:
    return all(v is not None and not math.isnan(v) for v in values)


def pareto_front(xs: Sequence[float | None], ys: Sequence[float | None]) -> list[bool]:
    """Which points no other point dominates (x no larger and y no smaller, one strictly): min x, max y.

    Points with a missing coordinate are never on the front.
    """
    points = [(x, y) if _finite(x, y) else None for x, y in zip(xs, ys, strict=True)]
    front = []
    for i, p in enumerate(points):
        if p is None:
            front.append(False)
            continue
        dominated = any(
            q is not None and j != i and q[0] <= p[0] and q[1] >= p[1] and q != p for j, q in enumerate(points)
        )
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
