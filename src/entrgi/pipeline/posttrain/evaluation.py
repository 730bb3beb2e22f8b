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

# The per-prompt sums an evaluation adds up (over prompts, then over ranks), and the two counts they are divided by.
PROMPTS, JUDGED = "prompts", "judged"
FIELDS = (
    "reward_k1",
    "reward_top1",
    "reward_avg",
    "judge_k1",
    "judge_top1",
    "judge_avg",
)


def score_batch(denoiser: GuidedDenoiser, judge, items: list[PromptItem]) -> dict[str, float]:
    """Generate unguided for ``items``; -> named sums: each of :data:`FIELDS` summed over the prompts, ``prompts``
    (their count) and ``judged`` (the count of prompts the judge scored; nan judge scores left out)."""
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
    return {f: float(sums.get(f, 0.0)) for f in FIELDS} | {PROMPTS: float(len(items)), JUDGED: float(judged)}


def zero_sums() -> dict[str, float]:
    """The sums of no prompt, in the fixed order every rank all-gathers them."""
    return dict.fromkeys((*FIELDS, PROMPTS, JUDGED), 0.0)


def add_sums(total: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    return {k: v + more.get(k, 0.0) for k, v in total.items()}


def means(total: dict[str, float]) -> dict[str, float | None]:
    """Summed ``score_batch`` results (over batches and ranks) -> each field's mean over prompts."""
    prompts, judged = total.get(PROMPTS, 0.0), total.get(JUDGED, 0.0)
    out: dict[str, float | None] = {}
    for field in FIELDS:
        n = judged if field.startswith("judge") else prompts
        out[field] = total.get(field, 0.0) / n if n else None
    return out | {PROMPTS: int(prompts)}
