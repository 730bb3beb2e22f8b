"""Prompts as a map-style torch ``Dataset`` for Lightning predict dataloaders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from torch.utils.data import Dataset

from entrgi.engine.types import PromptItem


class PromptDataset(Dataset[PromptItem]):
    """A fixed list of prompts; index ``i`` is ``items[i]``."""

    def __init__(self, items: Sequence[PromptItem]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> PromptItem:
        return self.items[index]


def collate_prompts(batch: Sequence[PromptItem]) -> list[PromptItem]:
    """Keep a batch as a plain list of prompts (the default collate would break them apart)."""
    return list(batch)


def filter_done(items: Iterable[PromptItem], done_ids: set[str]) -> list[PromptItem]:
    """The prompts whose ``sample_id`` is not in ``done_ids`` (for resuming a run), in order."""
    return [item for item in items if item.sample_id not in done_ids]
