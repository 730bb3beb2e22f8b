"""``metrics.json``: one run's summary, built by :func:`run_metrics` from named parts, read and written here.

Reward means over prompts (``outputs/records.py``), the run's identity (``outputs/identity.py``),
timings (``generation_wall_s`` is time inside denoising, models already loaded; ``cpu_s`` the
processes' CPU seconds meanwhile; the load average at the start and end), compute
(``outputs/compute.py``), all summed over the run's segments (``outputs/costs.py``);
memory, model calls and counters of skipped or faulty items, then
``guidance`` (what ran) and ``vocab_coverage`` (a run with a vocabulary bridge). ``python -m
entrgi.judge`` replaces the judge keys through :func:`with_judge`. The key names and their order are
part of the user-facing contract (README, Outputs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from entrgi.judges.apply import JUDGES, summary_block
from entrgi.outputs.atomic import write_json
from entrgi.outputs.files import RunFolder, RunFolderError
from entrgi.outputs.records import prompt_means


@dataclass(frozen=True, kw_only=True)
class RunSetup:
    """What the run is, known before any model loads."""

    identity: dict[str, Any]  # outputs.identity.run_identity; its ``method`` is the run's method
    guidance: str  # the guidance's name: the method with its hyper-parameters, ``entrgi(M=3,eta=0.5)``
    seed: int
    samples_per_prompt: int
    skipped: dict[str, int]  # reason -> prompts the source (or the dLLM's context) left out


@dataclass(frozen=True, kw_only=True)
class Generated:
    """What generating did, on rank 0 once the shards are merged."""

    records: list[dict]  # this run's records, in dataset order
    stats: dict[str, Any]  # the run's counters and times summed over its segments (outputs.costs.totals)
    total_wall_s: float
    compute: dict[str, Any]  # outputs.compute.compute_summary
    world_size: int  # the trainer's (used when no rank reported one)
    resumed_prompts: int  # prompts written by the segments before the last
    vocab_coverage: dict[str, Any] | None = None  # the vocabulary bridge's coverage, when there is one


def run_metrics(setup: RunSetup, generated: Generated | None = None) -> dict[str, Any]:
    """The ``metrics.json`` of a run; ``generated`` None: the data gave no valid prompt (no model loaded)."""
    method = setup.identity["method"]
    if generated is None:
        return {
            "num_prompts": 0,
            "top1_reward_mean": None,
            "avgN_reward_mean": None,
            "method": method,
            "seed": setup.seed,
            "run": setup.identity,
            "skipped": setup.skipped,
            "guidance": setup.guidance,
        }
    stats = generated.stats
    skipped = dict(setup.skipped)
    if stats.get("oom_skipped"):  # prompts that ran out of memory even alone (entrgi.pipeline.oom)
        skipped["out_of_memory"] = stats["oom_skipped"]
    wall = stats.get("generation_wall_s")
    metrics = prompt_means(generated.records) | {
        "run": setup.identity,
        "method": method,
        "seed": setup.seed,
        "samples_per_prompt": setup.samples_per_prompt,
        "generation_wall_s": stats.get("generation_wall_s", 0.0),
        "total_wall_s": generated.total_wall_s,
        "tokens_per_s": stats["generated_tokens"] / wall if wall else None,
        "device_s": stats.get("device_s"),
        "gpu_s": stats.get("device_s") if stats.get("device_type") == "cuda" else None,
        "cpu_s": stats.get("cpu_s"),
        "load_avg_start": stats.get("load_avg_start"),
        "load_avg_end": stats.get("load_avg_end"),
        "cpu_count": stats.get("cpu_count"),
        "segments": stats.get("segments", 1),
        "compute": generated.compute,
        "peak_memory_bytes": stats.get("peak_memory_bytes"),
        "peak_gpu_memory_bytes": stats.get("peak_gpu_memory_bytes"),
        "dllm_calls": stats.get("dllm_calls", 0),
        "reward_calls": stats.get("reward_calls", 0),
        "faults": stats.get("faults", 0),
        "world_size": stats.get("world_size", generated.world_size),
        "resumed_prompts": generated.resumed_prompts,
        "skipped": skipped,
        "guidance": setup.guidance,
    }
    if generated.vocab_coverage is not None:
        metrics["vocab_coverage"] = generated.vocab_coverage
    return metrics


def with_judge(metrics: dict[str, Any], summary: dict[str, Any], judge_identity: str | None) -> dict[str, Any]:
    """``metrics`` re-judged: the flat ``judge`` / ``judge_*`` keys (the latest judge) replaced by
    ``summary`` (``entrgi.judges.judge_summary``), that judge's block of ``judges`` added or replaced
    (its ``identity`` ``judge_identity``) and every other judge's block kept as it was (an old flat
    judgement becomes its own block first, :func:`judge_blocks`); the run identity's ``judge`` becomes
    ``judge_identity``."""
    blocks = dict(judge_blocks(metrics))
    if summary.get("judge"):
        blocks[str(summary["judge"])] = summary_block(summary, judge_identity)
    out = {k: v for k, v in metrics.items() if k not in ("judge", JUDGES) and not k.startswith("judge_")} | summary
    if blocks:
        out[JUDGES] = blocks
    if isinstance(out.get("run"), dict) and judge_identity:
        out["run"] = out["run"] | {"judge": judge_identity}  # the run's identity names its new judge
    return out


def judge_blocks(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``metrics``' per-judge summaries by judge name: its ``judges`` or, for a metrics.json written
    before them (flat ``judge`` / ``judge_*`` keys only), that one judgement as a block keyed by its
    ``judge`` (``identity`` from the run identity's ``judge``, which names that judge). Empty when unjudged."""
    blocks = metrics.get(JUDGES)
    if isinstance(blocks, dict):
        return blocks
    name = metrics.get("judge")
    if not name:
        return {}
    identity = (metrics.get("run") or {}).get("judge") if isinstance(metrics.get("run"), dict) else None
    flat = {k: v for k, v in metrics.items() if k.startswith("judge_")}
    return {str(name): summary_block(flat, None if identity in (None, "none") else str(identity))}


def read_metrics(folder: Path | str) -> dict[str, Any]:
    """``folder``'s ``metrics.json``."""
    path = RunFolder(folder).metrics
    try:
        metrics = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RunFolderError(f"{path} is not JSON ({err}); rerun the run (resume=true) to write it again") from None
    if not isinstance(metrics, dict):
        raise RunFolderError(f"{path} holds no JSON object; rerun the run (resume=true) to write it again")
    return metrics


def write_metrics(folder: Path | str, metrics: dict[str, Any]) -> None:
    """Replace ``folder``'s ``metrics.json``, atomically."""
    write_json(RunFolder(folder).metrics, metrics)


def has_metrics(folder: Path | str) -> bool:
    return RunFolder(folder).metrics.exists()
