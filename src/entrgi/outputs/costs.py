"""``segments.json``: what each invocation of a run cost; ``metrics.json`` reports the sums.

A run killed and resumed is several invocations ("segments") writing one folder. Each segment that
generated prompts appends one entry: its prompts, its counters (model passes, token positions: the
compute formula's inputs), ``generation_wall_s`` (slowest rank), ``device_s`` (summed over ranks),
``cpu_s`` (process CPU seconds while generating, summed over ranks), ``total_wall_s`` (the
invocation, loading included), the 1-minute load average at its start and end, the host, the world
size and how it ended (``finished``, ``stopped`` by a signal, or ``killed``: rebuilt on resume from
the per-batch stats the ranks left in ``shards/``; its total wall is then its generation wall).
:func:`totals` sums them, so a killed-and-resumed run reports the same compute and per-prompt figures
as an uninterrupted one (wall aside), and ``resume=true`` on a finished run (no new segment) changes
nothing. A folder written before segments existed gets one ``legacy`` segment from its metrics.json.
Segment ids make the append idempotent (a segment recovered twice counts once).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from entrgi.outputs.atomic import write_json
from entrgi.outputs.compute import COUNTERS
from entrgi.outputs.files import RunFolder, RunFolderError
from entrgi.outputs.generations import done_sample_ids, read_rank_stats
from entrgi.outputs.metrics import has_metrics, read_metrics

# Per-segment floats summed by totals() besides every integer counter.
SUMMED_FLOATS = ("generation_wall_s", "device_s", "cpu_s", "total_wall_s")
MAXED = ("peak_memory_bytes", "peak_gpu_memory_bytes")
PER_HOST = ("world_size", "cpu_count")  # integers that describe the segment, not counters
NOT_COUNTERS = {"prompts", "oom_skipped", *PER_HOST, *MAXED}  # integers totals() does not sum as counters
LAST = ("oom_skipped",)  # the last segment's: every later segment retries what an earlier one skipped


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def cpu_count() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def read_segments(folder: Path | str) -> list[dict[str, Any]]:
    path = RunFolder(folder).segments
    if not path.exists():
        return []
    try:
        segments = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RunFolderError(
            f"{path} is not JSON ({err}); remove it to count only the next invocation's costs"
        ) from None
    if not isinstance(segments, list):
        raise RunFolderError(f"{path} holds no JSON list; remove it to count only the next invocation's costs")
    return segments


def append_segment(folder: Path | str, segment: dict[str, Any]) -> list[dict[str, Any]]:
    """Append ``segment`` (skipped when its ``id`` is already there); returns every segment."""
    segments = read_segments(folder)
    if segment.get("id") is None or all(s.get("id") != segment["id"] for s in segments):
        segments.append(segment)
        write_json(RunFolder(folder).segments, segments)
    return segments


def merge_rank_stats(ranks: list[dict[str, Any]]) -> dict[str, Any]:
    """One segment's counters from its ranks' stats: integers and CPU seconds summed, generation
    wall the slowest rank's, device seconds every rank's, peaks the largest."""
    if not ranks:
        return {}
    ints = {k for r in ranks for k, v in r.items() if isinstance(v, int) and not isinstance(v, bool)}
    ints -= {*MAXED, *PER_HOST}
    merged: dict[str, Any] = {k: sum(int(r.get(k, 0)) for r in ranks) for k in sorted(ints)}
    merged |= {
        "generation_wall_s": max(float(r.get("generation_wall_s", 0.0)) for r in ranks),
        "device_s": sum(float(r.get("generation_wall_s", 0.0)) for r in ranks),
        "cpu_s": sum(float(r.get("cpu_s", 0.0)) for r in ranks),
        "device_type": ranks[0].get("device_type"),
        "world_size": len(ranks),
        "cpu_count": ranks[0].get("cpu_count"),
    }
    for key in MAXED:
        values = [r[key] for r in ranks if r.get(key) is not None]
        merged[key] = max(values) if values else None
    if ranks[0].get("segment") is not None:
        merged["id"] = ranks[0]["segment"]
    return merged


def legacy_segment(metrics: dict[str, Any]) -> dict[str, Any]:
    """A folder written before segments existed: its one invocation, from its metrics.json."""
    compute = metrics.get("compute") or {}
    segment = {key: int(compute[key]) for key in COUNTERS if key in compute}
    segment |= {
        "id": "legacy",
        "ended": "legacy",
        "prompts": int(compute.get("prompts") or metrics.get("num_prompts") or 0),
        "dllm_calls": int(metrics.get("dllm_calls") or 0),
        "reward_calls": int(metrics.get("reward_calls") or 0),
        "faults": int(metrics.get("faults") or 0),
        "generation_wall_s": float(metrics.get("generation_wall_s") or 0.0),
        "total_wall_s": float(metrics.get("total_wall_s") or 0.0),
        "device_s": float(metrics.get("device_s") or 0.0),
        "cpu_s": None,  # not recorded then
    }
    return segment


def totals(segments: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's counters and times summed over ``segments`` (the stats ``run_metrics`` reads)."""
    if not segments:
        return {}
    ints = {k for s in segments for k, v in s.items() if isinstance(v, int) and not isinstance(v, bool)} - NOT_COUNTERS
    out: dict[str, Any] = {k: sum(int(s.get(k) or 0) for s in segments) for k in sorted(ints)}
    out["prompts"] = sum(int(s.get("prompts") or 0) for s in segments)
    for key in SUMMED_FLOATS:
        values = [s.get(key) for s in segments]
        out[key] = None if any(v is None for v in values) else sum(float(v) for v in values)
    for key in MAXED:
        values = [s[key] for s in segments if s.get(key) is not None]
        out[key] = max(values) if values else None
    for key in LAST:
        if segments[-1].get(key):
            out[key] = segments[-1][key]
    last = segments[-1]
    out |= {
        "device_type": last.get("device_type"),
        "world_size": last.get("world_size"),
        "segments": len(segments),
        "load_avg_start": segments[0].get("load_avg_start"),
        "load_avg_end": last.get("load_avg_end"),
        "cpu_count": last.get("cpu_count"),
    }
    return out


def recover_segment(folder: Path | str) -> dict[str, Any] | None:
    """The segment an interrupted invocation left as per-rank stats in ``shards/`` (``stopped`` by a
    signal, else ``killed``), appended once; the caller then drops the per-rank stats."""
    ranks = read_rank_stats(folder)
    if not ranks:
        return None
    done = done_sample_ids(folder)
    segment = merge_rank_stats([_settle_pending(r, done) for r in ranks])
    stopped = any(r.get("ended") == "stopped" for r in ranks)
    segment |= {
        "ended": "stopped" if stopped else "killed",
        "total_wall_s": max(float(r.get("total_wall_s") or r.get("generation_wall_s", 0.0)) for r in ranks),
        "started": min((r["started"] for r in ranks if r.get("started")), default=None),
        "host": ranks[0].get("host"),
        "load_avg_start": ranks[0].get("load_avg_start"),
        "load_avg_end": None,
        "cpu_count": ranks[0].get("cpu_count"),
    }
    append_segment(folder, segment)
    return segment


def _settle_pending(rank: dict[str, Any], done: set[str]) -> dict[str, Any]:
    """A rank killed while writing a batch: the share of the batch's cost whose records were written."""
    rank = dict(rank)
    pending = rank.pop("pending", None)
    if not pending or not pending.get("ids"):
        return rank
    share = sum(i in done for i in pending["ids"]) / len(pending["ids"])
    for key, value in pending.items():
        if key != "ids" and isinstance(value, (int, float)) and not isinstance(value, bool):
            added = value * share
            rank[key] = rank.get(key, 0) + (round(added) if isinstance(value, int) else added)
    return rank


def start_ledger(folder: Path | str) -> None:
    """A folder from before segments existed: its metrics.json becomes its first (``legacy``) segment."""
    run = RunFolder(folder)
    if not run.segments.exists() and has_metrics(folder):
        append_segment(folder, legacy_segment(read_metrics(folder)))
