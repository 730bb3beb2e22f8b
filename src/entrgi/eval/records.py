"""Per-prompt records (one line of generations.jsonl) and the run summary (metrics.json)."""

from __future__ import annotations

import math
from typing import Iterable

import torch

from entrgi.denoiser import GenerationOutput
from entrgi.judges.apply import judge_summary


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else round(float(x), 6)


def _mean_over_k(t: torch.Tensor) -> list[float | None]:
    """[K, T] -> [T], nan-aware, JSON-ready."""
    return [_finite(v) for v in torch.nanmean(t, dim=0).tolist()]


def to_records(out: GenerationOutput, method: str, seed: int, save_entropy_maps: bool = True,
               identity: dict | None = None) -> list[dict]:
    """One JSON-ready record per prompt of a batch; ``identity`` (the run's, see
    :func:`entrgi.eval.identity.run_identity`) is copied into each as ``run``."""
    records = []
    for i, item in enumerate(out.items):
        rewards = out.rewards[i].tolist()
        best = max(range(len(rewards)), key=rewards.__getitem__)
        rec = {
            "sample_id": item.sample_id,
            "prompt": item.prompt,
            "responses": out.responses[i],
            "rewards": [round(r, 6) for r in rewards],
            "best_index": best,
            "top1_reward": round(max(rewards), 6),
            "avgN_reward": round(sum(rewards) / len(rewards), 6),
            "method": method,
            "seed": seed,
            "trace": {key: _mean_over_k(v[i]) for key, v in out.trace.items()},
        }
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


def summarize(records: Iterable[dict]) -> dict:
    """Means over prompts: Top@1, Avg@N and the judge's fields (:func:`entrgi.judges.judge_summary`)."""
    records = list(records)
    n = len(records)
    out: dict = {"num_prompts": n}
    if n == 0:
        return out | {"top1_reward_mean": None, "avgN_reward_mean": None}
    out["top1_reward_mean"] = sum(r["top1_reward"] for r in records) / n
    out["avgN_reward_mean"] = sum(r["avgN_reward"] for r in records) / n
    return out | judge_summary(records)
