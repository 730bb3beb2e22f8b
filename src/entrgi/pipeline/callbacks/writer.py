"""Per-rank JSONL shards written as batches finish, merged on rank 0 into generations.jsonl."""

from __future__ import annotations

import json
import logging
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from entrgi.analysis.records import to_records
from entrgi.engine.denoiser import GenerationOutput
from entrgi.judges.apply import judge_records

log = logging.getLogger(__name__)

GENERATIONS = "generations.jsonl"
SHARDS = "shards"


def jsonl_lines(path: Path) -> list[tuple[dict, str]]:
    """``(record, line)`` for each complete line of a JSONL file (``line`` with its newline).

    A line counts only once its newline is written: a torn last line (a writer killed mid-write)
    is left out, and so is an unreadable line elsewhere (logged), so its sample is redone on resume.
    """
    if not path.exists():
        return []
    *complete, _torn = path.read_bytes().split(b"\n")  # _torn: b"" when the file ends with a newline
    out = []
    for number, raw in enumerate(complete, 1):
        try:
            record = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("%s line %d is not a JSON record; ignored (its sample is redone on resume)", path, number)
            continue
        if isinstance(record, dict) and "sample_id" in record:
            out.append((record, raw.decode("utf-8") + "\n"))
    return out


def read_jsonl(path: Path) -> list[dict]:
    """Records of a JSONL file; a torn last line (a killed writer) is ignored."""
    return [record for record, _ in jsonl_lines(path)]


def repair_jsonl(path: Path) -> int:
    """Cut a torn last line (no newline) off ``path`` so the next append starts a fresh line.
    Returns the number of bytes dropped."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        with path.open("r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        log.warning(
            "%s: dropped a torn last line (%d bytes) left by an interrupted run; it is redone", path, len(data) - keep
        )
    return len(data) - keep


def shard_paths(output_dir: Path) -> list[Path]:
    return sorted((Path(output_dir) / SHARDS).glob("rank*.jsonl"))


def done_sample_ids(output_dir: Path) -> set[str]:
    """sample_ids already written in ``output_dir`` (merged file and shards, complete lines), for resume."""
    paths = [Path(output_dir) / GENERATIONS, *shard_paths(output_dir)]
    return {r["sample_id"] for p in paths for r in read_jsonl(p)}


def merge_records(output_dir: Path, order: dict[str, int]) -> None:
    """Merge the shards into ``generations.jsonl`` (kept records first), one line per sample_id, in
    dataset order (ids not in ``order`` last); lines are copied byte for byte. The new file replaces
    the old one atomically; the shards are removed after."""
    output_dir = Path(output_dir)
    by_id = {r["sample_id"]: line for r, line in jsonl_lines(output_dir / GENERATIONS)}
    for shard in shard_paths(output_dir):
        for r, line in jsonl_lines(shard):
            by_id.setdefault(r["sample_id"], line)
    ordered = sorted(by_id, key=lambda sid: order.get(sid, len(order)))
    tmp = output_dir / (GENERATIONS + ".tmp")
    with tmp.open("w") as f:
        f.write("".join(by_id[sid] for sid in ordered))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(output_dir / GENERATIONS)
    for shard in shard_paths(output_dir):
        shard.unlink()


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

    def _shard(self, rank: int) -> Path:
        return self.output_dir / SHARDS / f"rank{rank}.jsonl"

    def on_predict_start(self, trainer, pl_module):
        (self.output_dir / SHARDS).mkdir(parents=True, exist_ok=True)
        repair_jsonl(self._shard(trainer.global_rank))  # appends must start on a fresh line
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
        with self._shard(trainer.global_rank).open("a") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
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
        stats_path = self.output_dir / SHARDS / f"rank{trainer.global_rank}.stats.json"
        stats_path.write_text(json.dumps(self.stats))
        trainer.strategy.barrier("entrgi-merge")
        if trainer.is_global_zero:
            self.merge(trainer.world_size)

    def merge(self, world_size: int) -> None:
        merge_records(self.output_dir, self.order)
        ranks = [json.loads(p.read_text()) for p in sorted((self.output_dir / SHARDS).glob("rank*.stats.json"))]
        summed = {key for r in ranks for key, value in r.items() if isinstance(value, int)} - _NOT_SUMMED
        self.merged_stats = {key: sum(r.get(key, 0) for r in ranks) for key in sorted(summed)} | {
            "generation_wall_s": max(r["generation_wall_s"] for r in ranks),
            "device_s": sum(r["generation_wall_s"] for r in ranks),
            "peak_memory_bytes": max(r["peak_memory_bytes"] for r in ranks),
            "peak_gpu_memory_bytes": _max_or_none(r.get("peak_gpu_memory_bytes") for r in ranks),
            "device_type": ranks[0].get("device_type"),
            "world_size": world_size,
        }
        for stats in (self.output_dir / SHARDS).glob("rank*.stats.json"):
            stats.unlink()
