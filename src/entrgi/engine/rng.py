"""Counter-based randomness keyed by (seed, sample, trajectory, draw, position).

Every random number the sampler uses is a pure function of its key, computed with integer
tensor ops on the device. A prompt's outputs therefore do not depend on batch composition,
batch size, world size or which rank ran it, and no per-row ``torch.Generator`` loop is needed.
The hash is a 32-bit avalanche mixer ("lowbias32"-style, multipliers below 2**31 so int64
products never overflow); uniforms carry 24 random bits.
"""

from __future__ import annotations

import hashlib

import torch

_MASK32 = 0xFFFFFFFF
_M1 = 0x7FEB352D
_M2 = 0x46CA68BB  # odd, < 2**31
_GOLDEN = 0x3C6EF372

# Random-draw purposes, folded into the counter of every draw (see ``draw_id``).
DRAW_TOKENS, DRAW_POSITIONS, DRAW_GUIDANCE = 0, 1, 2
DRAW_LOGLIK = 3  # post-training: the log-likelihood estimators' masking draws (entrgi.engine.posttrain)


def draw_id(step: int, purpose: int, inner: int = 0) -> int:
    """A distinct draw counter for each (denoising step, purpose, inner step)."""
    return (step * 8 + purpose) * 4096 + inner


def _mix(x: torch.Tensor) -> torch.Tensor:
    """Bijective 32-bit mixer on int64 tensors holding values in [0, 2**32)."""
    x = x & _MASK32
    x = x ^ (x >> 16)
    x = (x * _M1) & _MASK32
    x = x ^ (x >> 15)
    x = (x * _M2) & _MASK32
    x = x ^ (x >> 16)
    return x


def combine(key: torch.Tensor, value: torch.Tensor | int) -> torch.Tensor:
    """Fold ``value`` into ``key`` (broadcasting), returning a new 32-bit key."""
    return _mix(key ^ _mix(torch.as_tensor(value, device=key.device, dtype=torch.int64) + _GOLDEN))


def stable_id_hash(sample_id: str) -> int:
    """A 32-bit hash of a sample id that is the same in every process and Python version."""
    return int.from_bytes(hashlib.blake2b(sample_id.encode("utf-8"), digest_size=4).digest(), "little")


def trajectory_keys(seed: int, sample_hashes: torch.Tensor, k: int) -> torch.Tensor:
    """Keys for ``k`` trajectories of each sample: [B] hashes -> [B*K] keys (sample-major)."""
    base = combine(torch.full_like(sample_hashes, seed & _MASK32), sample_hashes)  # [B]
    traj = torch.arange(k, device=sample_hashes.device, dtype=torch.int64)
    return combine(base[:, None], traj[None, :]).reshape(-1)  # [B*K]


def uniform(keys: torch.Tensor, draw: torch.Tensor | int, size: int, dtype=torch.float32) -> torch.Tensor:
    """Uniforms in [0, 1): one row of ``size`` per key, for draw counter ``draw``. -> [N, size]."""
    k = combine(keys, draw)[:, None]  # [N, 1]
    pos = torch.arange(size, device=keys.device, dtype=torch.int64)[None, :]
    bits = combine(k, pos) >> 8  # 24 bits
    return bits.to(dtype) * (1.0 / (1 << 24))


def uniform_at(
    keys: torch.Tensor, draw: torch.Tensor | int, positions: torch.Tensor, dtype=torch.float32
) -> torch.Tensor:
    """Uniforms in [0, 1) at given positions: [N] keys, [N, S] non-negative positions -> [N, S]. With
    ``positions`` counted from the start of each row's own content, a draw does not depend on padding."""
    k = combine(keys, draw)[:, None]  # [N, 1]
    bits = combine(k, positions.to(torch.int64)) >> 8
    return bits.to(dtype) * (1.0 / (1 << 24))
