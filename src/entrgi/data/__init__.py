"""Prompt data: sources (hub, local files, testbed) and the torch dataset around them."""

from entrgi.data.dataset import PromptDataset, collate_prompts, filter_done
from entrgi.data.sources import (
    HubPromptSource,
    LoadedPrompts,
    LocalPromptSource,
    TestbedPromptSource,
)

__all__ = [
    "HubPromptSource",
    "LoadedPrompts",
    "LocalPromptSource",
    "PromptDataset",
    "TestbedPromptSource",
    "collate_prompts",
    "filter_done",
]
