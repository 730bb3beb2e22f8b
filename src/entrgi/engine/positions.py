"""Which response positions a denoising step's vocabulary-sized work covers.

A :class:`StepPositions` is built once per denoising step and passed to guidance and the
schedule, which then see tensors of shape [N, G, V] (N trajectories, G covered positions) and
nothing else. Two kinds exist:

- ``StepPositions.masked``: the G still-masked positions of each row, gathered in increasing
  order. Under a confidence algorithm every trajectory has the same, host-known number of
  masked positions at each step (the commit plan), so G is a host int and nothing syncs.
- ``StepPositions.every``: all L response positions (G = L); ``active`` marks the masked ones.
  Same code, more work; the reference the gathered path is tested against, and the path of
  ``alg=origin`` (whose coin flips leave rows with different masked counts).

Vocabulary-sized work runs over the N * G rows in chunks of ``chunk_rows(V)`` rows, so no
temporary of the full [N, G, V] size is ever made (:meth:`row_chunks`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from entrgi.engine import rng

# One fp32 [rows, V] temporary of a chunk; the working set is a few of them. On CPU, chunks whose
# float64 / int64 temporaries stay under glibc's largest mmap threshold (32 MiB) can be served from
# the heap instead of fresh page-faulted mappings; between 4 and 16 MiB the measured differences are
# within this machine's run-to-run spread (bench/speed/results.md). On GPU, larger chunks mean fewer,
# fuller kernels.
DEFAULT_MAX_CHUNK_BYTES = {"cpu": 8 * 2**20, "cuda": 512 * 2**20}


def default_max_chunk_bytes(device: torch.device | str) -> int:
    """The chunk budget used when none is given, by device type."""
    return DEFAULT_MAX_CHUNK_BYTES.get(torch.device(device).type, DEFAULT_MAX_CHUNK_BYTES["cuda"])


@dataclass
class StepPositions:
    index: int  # the denoising step
    keys: torch.Tensor  # [N] trajectory keys (entrgi.engine.rng)
    length: int  # L, response positions
    positions: torch.Tensor  # [N, G] long, covered response positions, increasing in each row
    active: torch.Tensor  # [N, G] bool, covered positions still masked (all True when gathered)
    count: int | None = None  # positions to commit at this step when known on the host (gathered path)
    identity: bool = False  # positions == arange(L) in every row: gather / scatter are no-ops
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES["cpu"]

    @classmethod
    def masked(
        cls,
        index: int,
        keys: torch.Tensor,
        masked: torch.Tensor,
        n_masked: int,
        count: int,
        max_chunk_bytes: int | None = None,
    ) -> StepPositions:
        """The ``n_masked`` masked positions of each row of ``masked`` [N, L] (every row has that many).
        ``max_chunk_bytes``: None = the default of ``masked``'s device (:func:`default_max_chunk_bytes`)."""
        max_chunk_bytes = max_chunk_bytes or default_max_chunk_bytes(masked.device)
        # masked positions first, in increasing order (a stable sort)
        positions = torch.argsort((~masked).to(torch.uint8), dim=-1, stable=True)[:, :n_masked]
        active = torch.ones_like(positions, dtype=torch.bool)
        return cls(index, keys, masked.shape[1], positions, active, count, False, max_chunk_bytes)

    @classmethod
    def every(
        cls, index: int, keys: torch.Tensor, masked: torch.Tensor, max_chunk_bytes: int | None = None
    ) -> StepPositions:
        """Every response position; ``masked`` [N, L] marks the active ones (``max_chunk_bytes`` as in
        :meth:`masked`)."""
        n, length = masked.shape
        max_chunk_bytes = max_chunk_bytes or default_max_chunk_bytes(masked.device)
        positions = torch.arange(length, device=masked.device).expand(n, -1)
        return cls(index, keys, length, positions, masked, None, True, max_chunk_bytes)

    @property
    def width(self) -> int:
        """G, the covered positions per row."""
        return self.positions.shape[1]

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """[N, L, ...] -> [N, G, ...] at the covered positions."""
        if self.identity:
            return x
        idx = self.positions.view(*self.positions.shape, *([1] * (x.dim() - 2))).expand(-1, -1, *x.shape[2:])
        return x.gather(1, idx)

    def scatter(self, base: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """A copy of ``base`` [N, L, ...] with ``values`` [N, G, ...] written at the covered positions."""
        if self.identity:
            return values
        idx = self.positions.view(*self.positions.shape, *([1] * (base.dim() - 2))).expand(-1, -1, *base.shape[2:])
        return base.scatter(1, idx, values)

    def uniform(self, draw: int, dtype=torch.float32) -> torch.Tensor:
        """Keyed uniforms [N, G] for draw counter ``draw``, keyed by response position (so a
        position's draw is the same whichever positions are covered)."""
        return self.gather(rng.uniform(self.keys, draw, self.length, dtype=dtype))

    def chunk_rows(self, vocab: int, itemsize: int = 4) -> int:
        """Rows of a [rows, V] chunk whose temporaries stay within ``max_chunk_bytes`` each."""
        return max(1, self.max_chunk_bytes // max(1, vocab * itemsize))

    def row_chunks(self, rows: int, vocab: int) -> list[slice]:
        """Slices covering ``rows`` flattened (trajectory, position) rows in chunks."""
        size = self.chunk_rows(vocab)
        return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]
