"""Per-prompt records (one line of generations.jsonl) and their means over prompts (metrics.json's first keys)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from entrgi.engine.denoiser import GenerationOutput
from entrgi.judges.apply import JUDGES, judge_summary, judges_summary


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 6)


def reward_fields(rewards: list[float]) -> dict:
    """``rewards`` (K floats; a non-finite score becomes null), ``best_index``, ``top1_reward`` and
    ``avgN_reward`` over the finite ones (all null when none is), and ``nonfinite_rewards`` when any."""
    finite = [i for i, r in enumerate(rewards) if math.isfinite(r)]
    out = {
        "rewards": [round(r, 6) if math.isfinite(r) else None for r in rewards],
        "best_index": None,
        "top1_reward": None,
        "avgN_reward": None,
    }
    if finite:
        best = max(finite, key=rewards.__getitem__)  # the first of equal maxima
        out |= {
            "best_index": best,
            "top1_reward": round(rewards[best], 6),
            "avgN_reward": round(sum(rewards[i] for i in finite) / len(finite), 6),
        }
    if len(finite) < len(rewards):
        out["nonfinite_rewards"] = len(rewards) - len(finite)
    return out


def _mean_over_k(t: torch.Tensor) -> list[float | None]:
    """[K, T] -> [T], nan-aware, JSON-ready."""
    return [_finite(v) for v in torch.nanmean(t, dim=0).tolist()]


ANCESTOR = "ancestor"  # the particles' per-trajectory trace key (entrgi.engine.particles.fk)


def ancestry(ancestor: torch.Tensor, resampled: torch.Tensor) -> dict[str, list]:
    """A prompt's resamplings from its [K, T] trace: ``{"steps": [t, ...], "parents": [[p_0..p_{K-1}],
    ...]}``, ``parents[j][slot]`` the slot (before resampling j) that ``slot`` copied."""
    steps = [t for t in range(ancestor.shape[1]) if resampled[0, t] == 1.0]
    return {"steps": steps, "parents": [[int(p) for p in ancestor[:, t].tolist()] for t in steps]}


def to_records(
    out: GenerationOutput, method: str, seed: int, save_entropy_maps: bool = True, identity: dict | None = None
) -> list[dict]:
    """One JSON-ready record per prompt of a batch; ``identity`` (the run's, see
    :func:`entrgi.outputs.identity.run_identity`) is copied into each as ``run``."""
    records = []
    for i, item in enumerate(out.items):
        rec = {
            "sample_id": item.sample_id,
            "prompt": item.prompt,
            "responses": out.responses[i],
            **reward_fields(out.rewards[i].tolist()),
            "method": method,
            "seed": seed,
            "trace": {key: _mean_over_k(v[i]) for key, v in out.trace.items() if key != ANCESTOR},
        }
        if ANCESTOR in out.trace:  # a particle run: which slot each slot copied at every resampling
            rec["ancestry"] = ancestry(out.trace[ANCESTOR][i], out.trace["resampled"][i])
        if item.system is not None:
            rec["system"] = item.system
        if identity is not None:
            rec["run"] = identity
        if out.commit_step is not None and out.token_pieces is not None:  # trajectory 0's denoising order
            rec["order"] = {"tokens": out.token_pieces[i], "commit_step": out.commit_step[i].tolist()}
        if save_entropy_maps:
            rec["entropy_map"] = [[_finite(v) for v in row] for row in out.entropy_map[i].tolist()]
        records.append(rec)
    return records


def _mean(values: list) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def prompt_means(records: Iterable[dict]) -> dict:
    """Means over prompts: Top@1, Avg@N (prompts whose K rewards were all non-finite are left out),
    the latest judge's fields (:func:`entrgi.judges.judge_summary`) and every judge's block
    (``judges``, :func:`entrgi.judges.judges_summary`); ``nonfinite_rewards`` counts the null rewards
    of all records."""
    records = list(records)
    out: dict = {
        "num_prompts": len(records),
        "top1_reward_mean": _mean([r.get("top1_reward") for r in records]),
        "avgN_reward_mean": _mean([r.get("avgN_reward") for r in records]),
        "nonfinite_rewards": sum(1 for r in records for x in r.get("rewards", []) if x is None),
    }
    if not records:
        return out
    blocks = judges_summary(records)
    return out | judge_summary(records) | ({JUDGES: blocks} if blocks else {})
