"""The Lightning callback that writes a run's records as batches finish: each rank appends to its shard,
rank 0 merges the shards into generations.jsonl and sums the ranks' stats (the files: ``entrgi.outputs``)."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from entrgi.engine.denoiser import GenerationOutput
from entrgi.judges.apply import judge_records
from entrgi.outputs.generations import (
    append_records,
    drop_rank_stats,
    merge_shards,
    open_shard,
    read_rank_stats,
    write_rank_stats,
)
from entrgi.outputs.records import to_records


def _peak_host_memory_bytes() -> int:
    """This process's peak resident host memory (loading included)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def _peak_gpu_memory_bytes(device: torch.device) -> int | None:
    """Peak CUDA memory allocated on ``device`` since predict started; None off CUDA."""
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


_NOT_SUMMED = {"peak_memory_bytes", "peak_gpu_memory_bytes"}


def _max_or_none(values) -> int | None:
    values = [v for v in values if v is not None]
    return max(values) if values else None


class JsonlPredictionWriter(BasePredictionWriter):
    """Appends each finished batch to ``shards/rank{R}.jsonl`` (flushed, so a crash keeps it).

    At the end all ranks meet; rank 0 merges the shards and any earlier generations.jsonl
    (resume) into one file keyed by sample_id, in dataset order, and sums the ranks' stats.
    """

    def __init__(
        self,
        *,
        output_dir: str | Path,
        method: str,
        seed: int,
        order: dict[str, int],
        save_entropy_maps: bool = True,
        judge=None,
        identity: dict | None = None,
        stream: Callable[[Any], Callable[[list[dict], int], Any] | None] | None = None,
    ):
        """``judge``: an :class:`entrgi.judges.Judge` scoring each batch's responses on this rank.
        ``stream(trainer)``: called on global rank 0 when predict starts (in the rank's own process,
        so it must pickle: a module-level function or a partial); what it returns, if not None, is
        called with ``(records, generated_tokens)`` after each batch is written (per-batch W&B rows)."""
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.method, self.seed, self.order = method, seed, order
        self.save_entropy_maps, self.judge, self.identity = save_entropy_maps, judge, identity
        self.stream, self._on_records = stream, None
        self.stats = {"generation_wall_s": 0.0, "generated_tokens": 0, "dllm_calls": 0, "reward_calls": 0}
        self.merged_stats: dict | None = None

    def on_predict_start(self, trainer, pl_module):
        open_shard(self.output_dir, trainer.global_rank)  # appends must start on a fresh line
        self._started = time.perf_counter()
        if self.stream is not None and trainer.is_global_zero:
            self._on_records = self.stream(trainer)
        if pl_module.device.type == "cuda":  # the run's own peak: weights plus denoising, not earlier work
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def write_on_batch_end(
        self, trainer, pl_module, prediction: GenerationOutput, batch_indices, batch, batch_idx, dataloader_idx
    ):
        records = to_records(prediction, self.method, self.seed, self.save_entropy_maps, self.identity)
        if self.judge is not None:
            judge_records(records, self.judge)
        append_records(self.output_dir, trainer.global_rank, records)
        self.stats["generation_wall_s"] += prediction.wall_s
        self.stats["generated_tokens"] += prediction.tokens.numel()
        for key, value in prediction.counters.items():
            self.stats[key] = self.stats.get(key, 0) + value
        if self._on_records is not None:
            self._on_records(records, prediction.tokens.numel())

    def on_predict_end(self, trainer, pl_module):
        self.stats["peak_memory_bytes"] = _peak_host_memory_bytes()
        self.stats["peak_gpu_memory_bytes"] = _peak_gpu_memory_bytes(pl_module.device)
        self.stats["device_type"] = pl_module.device.type
        write_rank_stats(self.output_dir, trainer.global_rank, self.stats)
        trainer.strategy.barrier("entrgi-merge")
        if trainer.is_global_zero:
            self.merge_ranks(trainer.world_size)

    def merge_ranks(self, world_size: int) -> None:
        """On rank 0: the shards into generations.jsonl, the ranks' stats into ``merged_stats``."""
        merge_shards(self.output_dir, self.order)
        ranks = read_rank_stats(self.output_dir)
        summed = {key for r in ranks for key, value in r.items() if isinstance(value, int)} - _NOT_SUMMED
        self.merged_stats = {key: sum(r.get(key, 0) for r in ranks) for key in sorted(summed)} | {
            "generation_wall_s": max(r["generation_wall_s"] for r in ranks),
            "device_s": sum(r["generation_wall_s"] for r in ranks),
            "peak_memory_bytes": max(r["peak_memory_bytes"] for r in ranks),
            "peak_gpu_memory_bytes": _max_or_none(r.get("peak_gpu_memory_bytes") for r in ranks),
            "device_type": ranks[0].get("device_type"),
            "world_size": world_size,
        }
        drop_rank_stats(self.output_dir)
