"""Out-of-memory handling for a batch of prompts: split it in half and retry, down to one prompt.

Randomness is keyed by (seed, sample_id, trajectory) (``entrgi.engine.rng``), so a prompt's tokens do not
depend on the batch it runs in: the halves of a split batch give the same generations as the whole
(rewards up to float rounding of a differently padded reward batch). A single prompt that still
does not fit is skipped and named in the log; the caller counts it (``skipped["out_of_memory"]``).
A skipped prompt is not written, so ``resume=true`` retries it (on a larger device, say).

Compute counters count the tries that finished; the memory spent on failed tries is not counted.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import Callable, Sequence

import torch

from entrgi.engine.denoiser import GenerationOutput
from entrgi.engine.trace import concat_traces
from entrgi.engine.types import PromptItem

log = logging.getLogger(__name__)

_TRIED = re.compile(r"[Tt]ried to allocate ([0-9.]+ ?[KMGT]?i?B)")


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA's ``OutOfMemoryError``, or a RuntimeError whose message says "out of memory"."""
    return isinstance(error, torch.cuda.OutOfMemoryError) or (
        isinstance(error, RuntimeError) and "out of memory" in str(error).lower()
    )


def memory_needed(error: BaseException) -> str:
    """What the failed try needed, in words: the allocation CUDA refused (parsed from its message) and
    the device's peak allocation so far (since predict started); "unknown" off CUDA."""
    parts = []
    tried = _TRIED.search(str(error))
    if tried:
        parts.append(f"tried to allocate {tried.group(1)}")
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        parts.append(f"peak allocated so far {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    return ", ".join(parts) or "unknown"


def free_cached_memory() -> None:
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def concat_outputs(outputs: Sequence[GenerationOutput]) -> GenerationOutput:
    """One output from the outputs of consecutive sub-batches, in order: per-prompt fields are
    concatenated along the batch dimension, ``wall_s`` and the counters are summed."""
    if len(outputs) == 1:
        return outputs[0]
    counters: dict[str, int] = {}
    for out in outputs:
        for key, value in out.counters.items():
            counters[key] = counters.get(key, 0) + value

    def optional(name):
        values = [getattr(o, name) for o in outputs]
        if any(v is None for v in values):
            return None
        return torch.cat(values) if isinstance(values[0], torch.Tensor) else [x for v in values for x in v]

    return GenerationOutput(
        items=[it for o in outputs for it in o.items],
        responses=[r for o in outputs for r in o.responses],
        rewards=torch.cat([o.rewards for o in outputs]),
        tokens=torch.cat([o.tokens for o in outputs]),
        trace=concat_traces([o.trace for o in outputs], [len(o.items) for o in outputs]),
        entropy_map=torch.cat([o.entropy_map for o in outputs]),
        commit_step=optional("commit_step"),
        token_pieces=optional("token_pieces"),
        wall_s=sum(o.wall_s for o in outputs),
        counters=counters,
    )


def empty_output(counters: dict[str, int] | None = None) -> GenerationOutput:
    """An output with no prompts (every prompt of the batch was skipped); writes no record."""
    return GenerationOutput(
        items=[],
        responses=[],
        rewards=torch.empty(0, 0),
        tokens=torch.empty(0, 0, 0),
        trace={},
        entropy_map=torch.empty(0, 0, 0),
        counters=dict(counters or {}),
    )


def generate_with_split(
    generate: Callable[[list[PromptItem]], GenerationOutput], items: Sequence[PromptItem]
) -> tuple[GenerationOutput | None, list[str]]:
    """``generate(items)``; on out-of-memory, free cached memory and retry each half (recursively).

    Returns the merged output of the prompts that fit (None if none did) and the sample_ids of the
    prompts skipped because even alone they ran out of memory. Other errors propagate.
    """
    items = list(items)
    try:
        return generate(items), []
    except RuntimeError as error:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if not is_out_of_memory(error):
            raise
        needed = memory_needed(error)
    # outside the except block: the traceback (and the tensors its frames hold) is released
    free_cached_memory()
    if len(items) == 1:
        log.warning(
            "out of memory: sample %r does not fit even alone (memory needed: %s); skipped. "
            "Lower schedule.max_new_tokens / samples_per_prompt / max_chunk_bytes, or use a larger device "
            "and resume=true to retry it",
            items[0].sample_id,
            needed,
        )
        return None, [items[0].sample_id]
    half = len(items) // 2
    log.warning(
        "out of memory on a batch of %d prompts (%s ... %s; memory needed: %s): retrying as %d + %d",
        len(items),
        items[0].sample_id,
        items[-1].sample_id,
        needed,
        half,
        len(items) - half,
    )
    outputs, skipped = [], []
    for part in (items[:half], items[half:]):
        out, lost = generate_with_split(generate, part)
        skipped += lost
        if out is not None:
            outputs.append(out)
        free_cached_memory()
    return (concat_outputs(outputs) if outputs else None), skipped
