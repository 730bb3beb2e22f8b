"""The held-out evaluation of a post-training run: unguided generation (Best-of-N, K = ``eval_k``,
fixed seed) on held-out prompts, scored by the guidance reward and by the judge.

From one K = 4 generation it reports K = 1 (trajectory 0: randomness is per (seed, sample, k), so
it is exactly what a K = 1 run draws) and K = 4 (Top@1: the judge's score of the reward's pick;
Avg@N: the mean over the K). A reward gain without a judge gain is reward hacking.
"""

from __future__ import annotations

import math

import torch

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.types import PromptItem

# The per-prompt sums an evaluation adds up (over prompts, then over ranks).
FIELDS = (
    "reward_k1",
    "reward_top1",
    "reward_avg",
    "judge_k1",
    "judge_top1",
    "judge_avg",
)


def score_batch(denoiser: GuidedDenoiser, judge, items: list[PromptItem]) -> torch.Tensor:
    """Generate unguided for ``items``; -> [len(FIELDS) + 2] sums: each field summed over the prompts,
    then the prompt count and the count of prompts the judge scored (nan judge scores left out)."""
    out = denoiser.generate(items)
    r = out.rewards.double()  # [B, K]
    best = r.argmax(dim=1)
    rows = torch.arange(len(items))
    sums = {"reward_k1": r[:, 0].sum(), "reward_top1": r[rows, best].sum(), "reward_avg": r.mean(1).sum()}
    judged = 0
    if judge is not None:
        rows_scores = judge.score([it.messages() for it in items], out.responses)  # [B][K] dicts
        j = torch.tensor(
            [[math.nan if s.get("score") is None else float(s["score"]) for s in row] for row in rows_scores],
            dtype=torch.float64,
        )
        ok = ~torch.isnan(j).any(dim=1)
        judged = int(ok.sum())
        j = torch.where(ok[:, None], j, 0.0)
        sums |= {"judge_k1": j[:, 0].sum(), "judge_top1": j[rows, best].sum(), "judge_avg": j.mean(1).sum()}
    values = [float(sums.get(f, 0.0)) for f in FIELDS] + [float(len(items)), float(judged)]
    return torch.tensor(values, dtype=torch.float64)


def means(total: torch.Tensor) -> dict[str, float | None]:
    """Summed ``score_batch`` vectors (over batches and ranks) -> each field's mean over prompts."""
    prompts, judged = float(total[-2]), float(total[-1])
    out: dict[str, float | None] = {}
    for i, field in enumerate(FIELDS):
        n = judged if field.startswith("judge") else prompts
        out[field] = float(total[i]) / n if n else None
    return out | {"prompts": int(prompts)}
