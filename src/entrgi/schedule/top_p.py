"""Exact top-p (nucleus) support without a full-vocabulary sort.

Definition (the sort definition): order a row's tokens by probability, descending, ties by
lower token id first; keep a token when the probability mass strictly before it in that
order is below ``top_p`` (so the most likely token always stays). Masses are summed in
float64.

Two exact ways to find that set, both sort-free over the vocabulary:

- **candidates**: ``topk`` of a few (``candidates``) tokens per row, ordered exactly, then the
  sort definition on them. A row is *resolved* when a candidate strictly more likely than the
  k-th candidate is already dropped: every other token is then dropped too. Cheap on CPU,
  where most rows resolve; the others go to the threshold search below (selected with a
  boolean index, which costs nothing on CPU).
- **threshold**: the kept set is every token above a probability threshold theta plus the
  first few (by id) of the tokens equal to theta. theta is the smallest row value whose mass
  strictly above it is below ``top_p``; the predicate is monotone in the value, so a bisection
  over the 31 bits of a non-negative float32 finds it exactly. Fixed shapes and no host read:
  the path used on GPU, for every row.
"""

from __future__ import annotations

import torch

DEFAULT_CANDIDATES = 64


def top_p_keep(probs: torch.Tensor, top_p: float, candidates: int = DEFAULT_CANDIDATES,
               method: str = "auto") -> torch.Tensor:
    """The top-p support of each row: [R, V] probabilities (fp32, >= 0) -> [R, V] bool.

    ``method``: ``candidates`` (top-k candidates, threshold search for unresolved rows),
    ``threshold`` (threshold search for every row, no host read), ``auto`` (``threshold`` on
    CUDA, ``candidates`` elsewhere).
    """
    if probs.dim() != 2:
        raise ValueError(f"top_p_keep expects [rows, V] probabilities, got shape {tuple(probs.shape)}")
    if top_p >= 1.0:
        return torch.ones_like(probs, dtype=torch.bool)
    probs = probs.float()
    if method == "auto":
        method = "threshold" if probs.is_cuda else "candidates"
    if method == "threshold" or probs.shape[-1] <= candidates:
        return _threshold_keep(probs, top_p)
    if method != "candidates":
        raise ValueError(f"top_p_keep(method={method!r}); choose auto, candidates or threshold")
    keep, resolved = _candidate_keep(probs, top_p, candidates)
    if not bool(resolved.all()):  # CPU: a free host read; the threshold search runs on the few rows left
        rows = (~resolved).nonzero().squeeze(-1)
        keep[rows] = _threshold_keep(probs[rows], top_p)
    return keep


def _candidate_keep(probs: torch.Tensor, top_p: float, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (keep [R, V] exact where resolved, resolved [R])."""
    vals, idx = probs.topk(k, dim=-1)  # descending; ties in no particular order
    # exact order among the candidates: by value descending, ties by lower id (two stable sorts)
    by_id = idx.argsort(dim=-1, stable=True)
    vals, idx = vals.gather(-1, by_id), idx.gather(-1, by_id)
    by_val = vals.argsort(dim=-1, descending=True, stable=True)
    vals, idx = vals.gather(-1, by_val), idx.gather(-1, by_val)
    v64 = vals.double()
    before = v64.cumsum(-1) - v64  # mass strictly before each candidate
    drop = before >= top_p
    resolved = (drop & (vals > vals[:, -1:])).any(-1)
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter_(-1, idx, ~drop)
    return keep, resolved


def _threshold_keep(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    bits = probs.view(torch.int32)  # non-negative floats: integer order == value order
    lo = torch.zeros_like(bits[:, :1])
    hi = bits.amax(-1, keepdim=True)  # mass strictly above the maximum is 0 < top_p
    for _ in range(31):  # smallest b in [lo, hi] with mass(p > b) < top_p
        mid = lo + (hi - lo) // 2
        above = torch.where(probs > mid.view(torch.float32), probs, 0.0).sum(-1, keepdim=True, dtype=torch.float64)
        ok = above < top_p
        hi = torch.where(ok, mid, hi)
        lo = torch.where(ok, lo, mid + 1)
    theta = hi.view(torch.float32)  # [R, 1], a value of the row
    greater = probs > theta
    mass = torch.where(greater, probs, 0.0).sum(-1, keepdim=True, dtype=torch.float64)
    tie = probs == theta
    rank = tie.cumsum(-1) - 1  # order among the ties, by id
    return greater | (tie & (mass + rank * theta.double() < top_p))
