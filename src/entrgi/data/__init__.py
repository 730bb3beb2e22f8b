"""Prompt data: sources (hub datasets, local files, testbed) and the torch dataset around them."""

from entrgi.data.dataset import PromptDataset, collate_prompts, filter_done
from entrgi.data.rows import LoadedPrompts
from entrgi.data.sources import PromptSource, TestbedPromptSource

__all__ = [
    "LoadedPrompts",
    "PromptDataset",
    "PromptSource",
    "TestbedPromptSource",
    "collate_prompts",
    "filter_done",
]
