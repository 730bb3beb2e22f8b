"""Every file and folder name of a run folder (``paths.output_dir``), defined once here.

| name | holds | written by |
|---|---|---|
| ``config.yaml`` | the resolved config (resume compares it, the report groups by it) | rank 0 at the start |
| ``run_info.json`` | git commit and dirty flag, torch version, the method, Hydra's choices | rank 0 at the start |
| ``.hydra/hydra.yaml`` | Hydra's record (the report reads its choices where run_info lacks them) | Hydra |
| ``shards/rank{R}.jsonl`` | rank R's records until rank 0 merges them | the writer, a batch at a time |
| ``shards/rank{R}.stats.json`` | rank R's counters (time, tokens, calls, memory) | the writer when predict ends |
| ``generations.jsonl`` | one record per prompt, dataset order (``records.py``) | rank 0's merge; ``entrgi.judge`` |
| ``metrics.json`` | the run's summary (``metrics.py``) | rank 0 at the end; ``entrgi.judge`` |
| ``run.log`` | the console log (the name is Hydra's) | Hydra, ``python -m entrgi.run`` only |
| ``report.md``, ``report.csv``, ``paired.csv`` | the report; each group's row; each paired difference | report |
| ``plots/`` | the report's figures, ``plots/denoising.gif`` among them | ``python -m entrgi.report`` |
| ``wandb/`` | W&B's own files (never searched for runs) | W&B |
| ``segments.json`` | each invocation's costs; metrics.json sums them (``costs.py``) | rank 0 |
| ``.entrgi.lock``, ``.entrgi.lock.json`` | the run lock and its holder (``lock.py``) | rank 0 while running |
| ``overwritten/<time>/`` | earlier contents moved by ``overwrite=true`` (``guard.py``; not searched) | rank 0 |
| ``train_history.jsonl`` | post-training: one row per optimizer step, one per evaluation (``posttrain.py``) | rank 0 |
| ``train_samples/rank{R}.jsonl`` | post-training: each step's completions, rewards and loss weights | rank R |
| ``checkpoints/`` | post-training: Lightning checkpoints of the trainable weights (``last.ckpt``) | rank 0 |
| ``adapter/`` | post-training: the LoRA adapter in peft's format (``model.adapter=`` loads it) | rank 0 at the end |
| ``posttrain.json`` | post-training: the run's summary (evaluations before / after, compute) | rank 0 at the end |
| ``probe.md``, ``probe.csv``, ``probe_rows.csv``, ``probe.png`` | the soft-input probe's report | ``entrgi.probe`` |
| ``export.jsonl``, ``export_all.jsonl`` | TRL SFT rows of a run or a sweep (``export.py``) | ``entrgi.export`` |

Shards are appended and fsynced (``generations.py``); rank 0 merges them into ``generations.jsonl``
and removes them with the per-rank stats. ``config.yaml`` and ``run_info.json``: ``settings.py``.
The report writes into the folder it is given, a run or a sweep.
A whole file is always written through ``outputs/atomic.py`` (temp file, fsync, rename) and a JSONL file
read through ``outputs/jsonl.py`` (one torn-last-line policy). Nothing outside ``outputs/`` spells these
names (``tests/unit/test_outputs.py`` greps ``src/`` for them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG = "config.yaml"
RUN_INFO = "run_info.json"
SHARDS = "shards"
GENERATIONS = "generations.jsonl"
METRICS = "metrics.json"
REPORT_MD = "report.md"
REPORT_CSV = "report.csv"
PAIRED_CSV = "paired.csv"
HYDRA_RECORD = ".hydra/hydra.yaml"
PLOTS = "plots"
DENOISING_GIF = "denoising.gif"
WANDB = "wandb"
SEGMENTS = "segments.json"
LOCK = ".entrgi.lock"
LOCK_HOLDER = ".entrgi.lock.json"
OVERWRITTEN = "overwritten"
SHARD_GLOB = "rank*.jsonl"
RANK_STATS_GLOB = "rank*.stats.json"
TRAIN_HISTORY = "train_history.jsonl"
TRAIN_SAMPLES = "train_samples"
CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
POSTTRAIN = "posttrain.json"
EXPORT = "export.jsonl"
PROBE_MD, PROBE_CSV, PROBE_ROWS_CSV, PROBE_PLOT = "probe.md", "probe.csv", "probe_rows.csv", "probe.png"
EXPORT_ALL = "export_all.jsonl"
# Every name above that a run folder may hold, for the test that no module outside outputs/ spells one.
NAMES = (
    CONFIG,
    RUN_INFO,
    SHARDS,
    GENERATIONS,
    METRICS,
    REPORT_MD,
    REPORT_CSV,
    PAIRED_CSV,
    PLOTS,
    DENOISING_GIF,
    SEGMENTS,
    LOCK,
    TRAIN_HISTORY,
    POSTTRAIN,
    PROBE_MD,
    PROBE_CSV,
    PROBE_ROWS_CSV,
    PROBE_PLOT,
    EXPORT,
    EXPORT_ALL,
)


class RunFolderError(ValueError):
    """A run folder's file that cannot be read as written; the message names the file and what to do."""


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def run_info(self) -> Path:
        return self.root / RUN_INFO

    @property
    def hydra_record(self) -> Path:
        return self.root / HYDRA_RECORD

    @property
    def generations(self) -> Path:
        return self.root / GENERATIONS

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def segments(self) -> Path:
        return self.root / SEGMENTS

    @property
    def lock(self) -> Path:
        return self.root / LOCK

    @property
    def lock_holder(self) -> Path:
        return self.root / LOCK_HOLDER

    @property
    def overwritten(self) -> Path:
        return self.root / OVERWRITTEN

    @property
    def shards(self) -> Path:
        return self.root / SHARDS

    @property
    def train_history(self) -> Path:
        return self.root / TRAIN_HISTORY

    def train_samples(self, rank: int) -> Path:
        return self.root / TRAIN_SAMPLES / f"rank{rank}.jsonl"

    def train_sample_files(self) -> list[Path]:
        return sorted((self.root / TRAIN_SAMPLES).glob(SHARD_GLOB))

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def adapter(self) -> Path:
        return self.root / ADAPTER

    @property
    def posttrain(self) -> Path:
        return self.root / POSTTRAIN

    @property
    def probe_report(self) -> Path:
        return self.root / PROBE_MD

    def shard(self, rank: int) -> Path:
        return self.shards / f"rank{rank}.jsonl"

    def rank_stats(self, rank: int) -> Path:
        return self.shards / f"rank{rank}.stats.json"

    def shard_files(self) -> list[Path]:
        return sorted(self.shards.glob(SHARD_GLOB))

    def rank_stats_files(self) -> list[Path]:
        return sorted(self.shards.glob(RANK_STATS_GLOB))


def find_run_folders(root: Path | str, marker: str) -> list[Path]:
    """Folders under ``root`` (itself included) holding a file named ``marker`` (:data:`GENERATIONS` or
    :data:`METRICS`), in path order; W&B's, hidden and ``overwritten/`` folders are not searched."""
    root = Path(root)
    return sorted(
        p.parent
        for p in root.rglob(marker)
        if not any(part in (WANDB, OVERWRITTEN) or part.startswith(".") for part in p.relative_to(root).parts[:-1])
    )
