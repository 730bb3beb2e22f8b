"""``metrics.json``: one run's summary, from its records and the prediction writer's merged stats.

Reward means over prompts (``eval/records.py``), the run's identity, timings (``generation_wall_s``
is time inside denoising, models already loaded), compute (``eval/compute.py``), memory, model
calls and counters of skipped or faulty items. The key names are part of the user-facing contract.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from entrgi.analysis.records import summarize

METRICS = "metrics.json"


def run_metrics(
    records: list[dict],
    stats: dict[str, Any],
    *,
    identity: dict[str, Any],
    method: str,
    seed: int,
    samples_per_prompt: int,
    total_wall_s: float,
    compute: dict[str, Any],
    world_size: int,
    resumed_prompts: int,
    skipped: dict[str, int],
) -> dict[str, Any]:
    """The metrics of a finished run; ``stats`` are the writer's merged counters (empty when nothing ran)."""
    wall = stats.get("generation_wall_s")
    return summarize(records) | {
        "run": identity,
        "method": method,
        "seed": seed,
        "samples_per_prompt": samples_per_prompt,
        "generation_wall_s": stats.get("generation_wall_s", 0.0),
        "total_wall_s": total_wall_s,
        "tokens_per_s": stats["generated_tokens"] / wall if wall else None,
        "device_s": stats.get("device_s"),
        "gpu_s": stats.get("device_s") if stats.get("device_type") == "cuda" else None,
        "compute": compute,
        "peak_memory_bytes": stats.get("peak_memory_bytes"),
        "peak_gpu_memory_bytes": stats.get("peak_gpu_memory_bytes"),
        "dllm_calls": stats.get("dllm_calls", 0),
        "reward_calls": stats.get("reward_calls", 0),
        "faults": stats.get("faults", 0),
        "world_size": stats.get("world_size", world_size),
        "resumed_prompts": resumed_prompts,
        "skipped": skipped,
    }


def empty_metrics(identity: dict[str, Any], method: str, seed: int, skipped: dict[str, int]) -> dict[str, Any]:
    """The metrics of a run whose data gave no valid prompt (no model was loaded)."""
    return {
        "num_prompts": 0,
        "top1_reward_mean": None,
        "avgN_reward_mean": None,
        "method": method,
        "seed": seed,
        "run": identity,
        "skipped": skipped,
    }


def write_metrics(output_dir: Path, metrics: dict[str, Any]) -> None:
    (Path(output_dir) / METRICS).write_text(json.dumps(metrics, indent=2))
