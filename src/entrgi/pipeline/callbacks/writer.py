"""The Lightning callback that writes a run's records as batches finish: each rank appends to its shard
and rewrites its running stats (so a killed segment's costs survive for resume), rank 0 merges the
shards into generations.jsonl and the ranks' stats into the segment's (the files: ``entrgi.outputs``)."""

from __future__ import annotations

import resource
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from entrgi.engine.denoiser import GenerationOutput
from entrgi.judges.apply import judge_records
from entrgi.outputs.costs import cpu_count, merge_rank_stats
from entrgi.outputs.generations import append_records, merge_shards, open_shard, read_rank_stats, write_rank_stats
from entrgi.outputs.records import to_records


def _peak_host_memory_bytes() -> int:
    """This process's peak resident host memory (loading included)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def _peak_gpu_memory_bytes(device: torch.device) -> int | None:
    """Peak CUDA memory allocated on ``device`` since predict started; None off CUDA."""
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


class JsonlPredictionWriter(BasePredictionWriter):
    """Appends each finished batch to ``shards/rank{R}.jsonl`` (flushed, so a crash keeps it).

    After each batch the rank's running stats (counters, generation wall, CPU seconds, prompts) are
    rewritten atomically to ``shards/rank{R}.stats.json``, tagged with the segment id rank 0 drew.
    At the end all ranks meet; rank 0 merges the shards and any earlier generations.jsonl
    (resume) into one file keyed by sample_id, in dataset order, and the ranks' stats into
    ``merged_stats`` (``outputs/costs.merge_rank_stats``); the pipeline records the segment and then
    drops the per-rank stats.
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
        started_at: float | None = None,
        load_avg_start: float | None = None,
    ):
        """``judge``: an :class:`entrgi.judges.Judge` scoring each batch's responses on this rank.
        ``stream(trainer)``: called on global rank 0 when predict starts (in the rank's own process,
        so it must pickle: a module-level function or a partial); what it returns, if not None, is
        called with ``(records, generated_tokens)`` after each batch is written (per-batch W&B rows).
        ``started_at`` (``time.time()``) and ``load_avg_start``: when this invocation started and the
        load then, recorded with the running stats so a killed segment keeps them."""
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.method, self.seed, self.order = method, seed, order
        self.save_entropy_maps, self.judge, self.identity = save_entropy_maps, judge, identity
        self.stream, self._on_records = stream, None
        self.stats: dict[str, Any] = {
            "generation_wall_s": 0.0,
            "cpu_s": 0.0,
            "prompts": 0,
            "generated_tokens": 0,
            "dllm_calls": 0,
            "reward_calls": 0,
        }
        self.merged_stats: dict | None = None
        self.segment: str | None = None
        self.started_at, self.load_avg_start = started_at, load_avg_start

    def on_predict_start(self, trainer, pl_module):
        open_shard(self.output_dir, trainer.global_rank)  # appends must start on a fresh line
        self.segment = trainer.strategy.broadcast(uuid.uuid4().hex if trainer.is_global_zero else None, src=0)
        self._cpu_start, self._wall_start = time.process_time(), time.time()
        self.stats |= {
            "segment": self.segment,
            "started": self.started_at or self._wall_start,
            "host": socket.gethostname(),
            "load_avg_start": self.load_avg_start,
            "cpu_count": cpu_count(),
        }
        if self.stream is not None and trainer.is_global_zero:
            self._on_records = self.stream(trainer)
        if pl_module.device.type == "cuda":  # the run's own peak: weights plus denoising, not earlier work
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def write_on_batch_end(
        self, trainer, pl_module, prediction: GenerationOutput, batch_indices, batch, batch_idx, dataloader_idx
    ):
        records = to_records(prediction, self.method, self.seed, self.save_entropy_maps, self.identity)
        if self.judge is not None:
            judge_records(records, self.judge, (self.identity or {}).get("judge"))  # the block names its judge
        batch = {"generation_wall_s": prediction.wall_s, "generated_tokens": prediction.tokens.numel()}
        batch |= {"prompts": len(records), **prediction.counters}
        # The batch's cost is saved as pending before its records, then folded in: a kill in between
        # leaves resume the share of it whose records were written (outputs/costs.recover_segment).
        self._save_stats(trainer, pending={"ids": [r["sample_id"] for r in records], **batch})
        append_records(self.output_dir, trainer.global_rank, records)
        for key, value in batch.items():
            self.stats[key] = self.stats.get(key, 0) + value
        self._save_stats(trainer)
        if self._on_records is not None:
            self._on_records(records, prediction.tokens.numel())

    def on_predict_end(self, trainer, pl_module):
        self.stats["peak_memory_bytes"] = _peak_host_memory_bytes()
        self.stats["peak_gpu_memory_bytes"] = _peak_gpu_memory_bytes(pl_module.device)
        self.stats["device_type"] = pl_module.device.type
        self._save_stats(trainer)
        trainer.strategy.barrier("entrgi-merge")
        if trainer.is_global_zero:
            self.merge_ranks(trainer.world_size)

    def _save_stats(self, trainer, pending: dict | None = None) -> None:
        self.stats["cpu_s"] = time.process_time() - self._cpu_start
        self.stats["total_wall_s"] = time.time() - (self.started_at or self._wall_start)
        write_rank_stats(self.output_dir, trainer.global_rank, self.stats | ({"pending": pending} if pending else {}))

    def mark_stopped(self, trainer) -> None:
        """A signal stops the run after this batch: the running stats say so (resume records the segment)."""
        self.stats["ended"] = "stopped"
        self._save_stats(trainer)

    def merge_ranks(self, world_size: int) -> None:
        """On rank 0: the shards into generations.jsonl, the ranks' stats into ``merged_stats``
        (the per-rank files stay until the pipeline has recorded the segment)."""
        merge_shards(self.output_dir, self.order)
        self.merged_stats = merge_rank_stats(read_rank_stats(self.output_dir)) | {"world_size": world_size}
