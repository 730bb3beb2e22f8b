"""The prompts of each post-training step, a pure function of (seed, step): resuming at step s
replays nothing and skips nothing, and every rank takes its own share of the step's global batch."""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import lru_cache

from torch.utils.data import IterableDataset

from entrgi.engine.types import PromptItem


@lru_cache(maxsize=8)
def epoch_order(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    """The prompts' order in one pass over the training set."""
    order = list(range(n))
    random.Random(f"{seed}/{epoch}").shuffle(order)
    return tuple(order)


def step_prompts(items: list[PromptItem], batch_size: int, seed: int, step: int) -> list[PromptItem]:
    """The global batch of optimizer step ``step``: ``batch_size`` prompts, passes reshuffled per epoch."""
    n = len(items)
    out = []
    for index in range(step * batch_size, (step + 1) * batch_size):
        epoch, at = divmod(index, n)
        out.append(items[epoch_order(n, seed, epoch)[at]])
    return out


class StepBatches(IterableDataset):
    """Yields this rank's prompts for steps ``start``, ``start + 1``, ... without end (``max_steps``
    stops training): rank r of W takes the step's prompts r, r + W, ... (``batch_size`` is global)."""

    def __init__(self, items: list[PromptItem], *, batch_size: int, seed: int, start: int, rank: int, world: int):
        if batch_size % world:
            raise ValueError(
                f"posttrain.batch_size={batch_size} prompts per step does not split over {world} processes; "
                "make it a multiple of the number of processes"
            )
        self.items, self.batch_size, self.seed = items, batch_size, seed
        self.start, self.rank, self.world = start, rank, world

    def __iter__(self) -> Iterator[list[PromptItem]]:
        step = self.start
        while True:
            yield step_prompts(self.items, self.batch_size, self.seed, step)[self.rank :: self.world]
            step += 1
