"""Which original trajectory each slot of a particle run descends from, at any denoising step.

A particle run (``particles=fk``: FK steering, SMC resampling of a prompt's K trajectories while they
denoise) records ``ancestry`` = ``{"steps": [s_1, ...], "parents": [[p_0 .. p_{K-1}], ...]}``: the
steps where a resampling happened and, per resampling j, ``parents[j][slot]``, the slot (before
resampling j) that ``slot`` copied. Composing them gives each slot's origin: the trajectory it started as.
Records of other runs have no ``ancestry``.
"""

from __future__ import annotations

from collections.abc import Sequence


def compose_parents(parents: Sequence[Sequence[int]], k: int | None = None) -> list[int]:
    """Each slot's original trajectory after the resamplings ``parents`` (in order); K slots, K from
    ``parents`` when not given. ``[[0, 0, 2, 2], [1, 1, 1, 3]]`` -> ``[0, 0, 0, 2]``."""
    origins = list(range(k if k is not None else len(parents[0]) if parents else 0))
    for j, row in enumerate(parents):
        if len(row) != len(origins):
            raise ValueError(f"ancestry parents[{j}] has {len(row)} slots, expected {len(origins)}")
        if any(isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < len(origins) for p in row):
            raise ValueError(
                f"ancestry parents[{j}] = {list(row)}: each parent must be a slot in 0..{len(origins) - 1}"
            )
        origins = [origins[p] for p in row]
    return origins


def ancestry(record: dict) -> dict | None:
    """The record's ``ancestry`` (``steps`` and ``parents``, one per resampling), None for a run without particles."""
    found = record.get("ancestry")
    if not isinstance(found, dict):
        return None
    steps, parents = list(found.get("steps") or []), list(found.get("parents") or [])
    if len(steps) != len(parents):
        raise ValueError(f"ancestry of {record.get('sample_id')}: {len(steps)} steps but {len(parents)} parents")
    return {"steps": steps, "parents": parents}


def slots(record: dict, found: dict) -> int:
    """K: the slots of a resampling, else the record's responses."""
    return len(found["parents"][0]) if found["parents"] else len(record.get("responses") or [])


def origins_at(found: dict, step: int, k: int) -> list[int]:
    """Each slot's original trajectory at the end of denoising ``step`` (resamplings at steps <= ``step``)."""
    return compose_parents([p for s, p in zip(found["steps"], found["parents"], strict=True) if s <= step], k)


def resampled_at(found: dict, step: int) -> bool:
    return step in found["steps"]
