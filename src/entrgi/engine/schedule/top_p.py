"""Exact top-p (nucleus) support without a full-vocabulary sort.

Definition (the sort definition): order a row's tokens by probability, descending, ties by
lower token id first; keep a token when the probability mass strictly before it in that
order is below ``top_p`` (so the most likely token always stays). Masses are summed in
float64.

The kept set is every token above a probability threshold theta plus the first few (by id) of
the tokens equal to theta, where theta is the smallest row value whose mass strictly above it is
below ``top_p``. Three exact ways to find it, all sort-free over the vocabulary:

- **candidates**: ``topk`` of a few (``candidates``) tokens per row, ordered exactly, then the
  sort definition on them. A row is *resolved* when a candidate strictly more likely than the
  k-th candidate is already dropped: every other token is then dropped too. Cheap on CPU,
  where most rows resolve; the others (flat rows with a long nucleus) go to the bucket search
  (selected with a boolean index, which costs nothing on CPU).
- **bucket**: non-negative float32 values order like their int32 bits. The probability mass per
  bucket of the top 12 bits (8 exponent bits, 4 mantissa bits; one ``scatter_add``) tells which
  bucket holds the boundary: buckets above it are kept, buckets below dropped. Only the tokens
  of that one bucket (a few percent of a flat row) are sorted, and the sort definition applied
  to them after the mass above the bucket. A handful of passes over a row; uses ``nonzero``
  (a host read), so it is the CPU path.
- **threshold**: the predicate "mass strictly above x < top_p" is monotone in x, so a bisection
  over the 31 bits finds theta: 31 masked sums per row, fixed shapes, deterministic and no host
  read -- the path used on GPU, where those passes are cheap.
"""

from __future__ import annotations

import torch

DEFAULT_CANDIDATES = 64


def auto_method(device: torch.device) -> str:
    """``threshold`` on CUDA (no host read), ``candidates`` elsewhere (host reads are free on CPU)."""
    return "threshold" if device.type == "cuda" else "candidates"


def top_p_keep(
    probs: torch.Tensor, top_p: float, candidates: int = DEFAULT_CANDIDATES, method: str = "auto"
) -> torch.Tensor:
    """The top-p support of each row: [R, V] probabilities (fp32, >= 0) -> [R, V] bool.

    ``method``: ``candidates`` (top-k candidates, bucket search for unresolved rows), ``bucket``,
    ``threshold`` (bisection for every row, no host read), ``auto`` (``threshold`` on CUDA,
    ``candidates`` elsewhere).
    """
    if probs.dim() != 2:
        raise ValueError(f"top_p_keep expects [rows, V] probabilities, got shape {tuple(probs.shape)}")
    if top_p >= 1.0:
        return torch.ones_like(probs, dtype=torch.bool)
    probs = probs.float()
    if method == "auto":
        method = auto_method(probs.device)
    if method == "threshold":
        return _threshold_keep(probs, top_p)
    if method == "bucket" or (method == "candidates" and probs.shape[-1] <= candidates):
        return _bucket_keep(probs, top_p)
    if method != "candidates":
        raise ValueError(f"top_p_keep(method={method!r}); choose auto, candidates, bucket or threshold")
    # k candidates can hold top_p of the mass only if k * max(p) >= top_p: flatter rows go straight to
    # the bucket search (CPU: host reads and boolean indexing cost nothing)
    peaked = probs.amax(-1) * candidates >= top_p
    n_peaked = int(peaked.sum())
    if n_peaked == 0:
        return _bucket_keep(probs, top_p)
    if n_peaked == probs.shape[0]:
        keep, resolved = _candidate_keep(probs, top_p, candidates)
    else:
        rows = peaked.nonzero().squeeze(-1)
        keep = torch.zeros_like(probs, dtype=torch.bool)
        resolved = torch.zeros_like(peaked)
        keep[rows], resolved[rows] = _candidate_keep(probs[rows], top_p, candidates)
    if not bool(resolved.all()):  # the bucket search for the rows left
        rows = (~resolved).nonzero().squeeze(-1)
        keep[rows] = _bucket_keep(probs[rows], top_p)
    return keep


def _candidate_keep(probs: torch.Tensor, top_p: float, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (keep [R, V] exact where resolved, resolved [R])."""
    vals, idx = probs.topk(k, dim=-1)  # descending; ties in no particular order
    # exact order among the candidates: by value descending, ties by lower id (one sort of unique keys)
    key = ((2**31 - 1 - vals.view(torch.int32).long()) << 32) | idx
    order = key.argsort(dim=-1)
    vals, idx = vals.gather(-1, order), idx.gather(-1, order)
    v64 = vals.double()
    before = v64.cumsum(-1) - v64  # mass strictly before each candidate
    drop = before >= top_p
    resolved = (drop & (vals > vals[:, -1:])).any(-1)
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter_(-1, idx, ~drop)
    return keep, resolved


def _bucket_shift(vocab: int) -> int:
    """Buckets of the top bits of a value: about V / 4 of them, at most 4096 (8 exponent bits and
    4 mantissa bits), so the per-bucket work stays below the per-token work."""
    bits = min(12, max(4, (vocab // 4).bit_length()))
    return 31 - bits


def _bucket_keep(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    r, v = probs.shape
    dev = probs.device
    shift = _bucket_shift(v)
    n_buckets = 1 << (31 - shift)
    bucket = probs.view(torch.int32) >> shift  # [R, V], monotone in the value
    mass = torch.zeros(r, n_buckets, dtype=torch.float64, device=dev).scatter_add_(1, bucket.long(), probs.double())
    from_top = mass.flip(-1).cumsum(-1).flip(-1)  # [R, B]: mass in buckets >= b
    ids = torch.arange(n_buckets, device=dev, dtype=torch.int32)
    reach = torch.where(from_top >= top_p, ids, -1).amax(-1, keepdim=True)
    lowest = torch.where(mass > 0, ids, n_buckets).amin(-1, keepdim=True)
    b = torch.where(reach >= 0, reach, lowest)  # [R, 1] int32, the bucket holding the boundary
    above = (from_top.gather(1, b.long()) - mass.gather(1, b.long())).squeeze(1)  # [R] mass of buckets > b
    # the boundary bucket's tokens, in the sort definition's order: by row, value descending, id ascending
    row, col = (bucket == b).nonzero(as_tuple=True)  # row-major: ids ascending within a row
    vals = probs[row, col]
    order = torch.argsort(row * 2**31 + (2**31 - 1 - vals.view(torch.int32).long()), stable=True)
    row, col, vals = row[order], col[order], vals[order].double()
    cum = vals.cumsum(0)
    start = torch.searchsorted(row, torch.arange(r, device=dev))  # each row's first index
    seg_before = cum - vals - torch.where(start > 0, cum[(start - 1).clamp_min(0)], 0.0)[row]
    kept = above[row] + seg_before < top_p
    keep = bucket > b
    keep[row[kept], col[kept]] = True
    return keep


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
