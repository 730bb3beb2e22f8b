"""Weights & Biases rows while the run goes: one row per finished batch, on global rank 0.

Every row carries ``batch`` (the x-axis of these charts); W&B's own ``_step`` is left to count
``run.log`` calls, so these rows and the end-of-run curves of ``wandb_logging.log_run`` (on
``denoise/step`` and ``prompt/index``) share one increasing ``_step`` without clashing.

Keys (the workspace in ``entrgi.workspace`` plots exactly these):
``batch/top1_reward_mean``, ``batch/avgN_reward_mean``, ``batch/judge_score_mean`` (judged runs),
``progress/prompts_done``, ``progress/fraction``, ``throughput/prompts_per_s``,
``throughput/tokens_per_s``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

BATCH_STEP = "batch"
TOP1 = "batch/top1_reward_mean"
AVGN = "batch/avgN_reward_mean"
JUDGE_SCORE = "batch/judge_score_mean"
PROMPTS_DONE = "progress/prompts_done"
FRACTION = "progress/fraction"
PROMPTS_PER_S = "throughput/prompts_per_s"
TOKENS_PER_S = "throughput/tokens_per_s"
BATCH_KEYS = (TOP1, AVGN, JUDGE_SCORE)
PROGRESS_KEYS = (PROMPTS_DONE, FRACTION)
THROUGHPUT_KEYS = (PROMPTS_PER_S, TOKENS_PER_S)
ALL_KEYS = (*BATCH_KEYS, *PROGRESS_KEYS, *THROUGHPUT_KEYS)
GLOBS = ("batch/*", "progress/*", "throughput/*")


def _mean(values: list) -> float | None:
    finite = [float(v) for v in values if isinstance(v, (int, float)) and not math.isnan(v)]
    return sum(finite) / len(finite) if finite else None


def batch_row(
    records: list[dict], batch_idx: int, prompts_done: int, prompts_total: int, elapsed_s: float, generated_tokens: int
) -> dict[str, float | int]:
    """One W&B row for a finished batch.

    ``records`` are this batch's records (one per prompt); ``prompts_done`` and
    ``generated_tokens`` are totals so far (this batch included), ``elapsed_s`` the seconds since
    predict started, so the throughputs are averages over the run so far. Means skip missing or
    NaN values; a key whose mean has no value is left out rather than logged as NaN.
    """
    row: dict[str, float | int] = {
        BATCH_STEP: batch_idx,
        PROMPTS_DONE: prompts_done,
        FRACTION: prompts_done / prompts_total if prompts_total else 1.0,
    }
    means = {
        TOP1: _mean([r.get("top1_reward") for r in records]),
        AVGN: _mean([r.get("avgN_reward") for r in records]),
        JUDGE_SCORE: _mean([(r.get("judge") or {}).get("score") for r in records]),
    }
    row |= {k: v for k, v in means.items() if v is not None}
    if elapsed_s > 0:
        row[PROMPTS_PER_S] = prompts_done / elapsed_s
        row[TOKENS_PER_S] = generated_tokens / elapsed_s
    return row


def release_lightning_glob(run: Any) -> None:
    """Undo Lightning's ``define_metric("*", step_metric="trainer/global_step", step_sync=True)``.

    Lightning's WandbLogger defines it on first use; predict never logs a global step, so the glob
    only adds ``trainer/global_step = 0`` to rows no exact definition claims (the table's keys).
    """
    run.define_metric("*", overwrite=True)


def define_metrics(run: Any) -> None:
    """Chart ``batch/*``, ``progress/*`` and ``throughput/*`` against ``batch``.

    Each key is also defined by its exact name, which wins over any glob (Lightning's ``*``).
    """
    release_lightning_glob(run)
    run.define_metric(BATCH_STEP)
    for glob in GLOBS:
        run.define_metric(glob, step_metric=BATCH_STEP)
    for key in ALL_KEYS:
        run.define_metric(key, step_metric=BATCH_STEP)


class BatchLogger:
    """Logs one row per finished batch to ``run`` (a ``wandb`` run), keeping its own counters and clock.

    ``prompts_total`` is the number of prompts the run will generate (all ranks). Only global
    rank 0 logs and it sees its own share of the batches, so with ``world_size`` ranks each of
    its batches counts ``world_size`` times: prompts and tokens are rank 0's, extrapolated (exact
    on one device). The clock starts at construction (or at ``start()``).
    """

    def __init__(
        self, run: Any, prompts_total: int, world_size: int = 1, clock: Callable[[], float] = time.perf_counter
    ):
        self.run, self.prompts_total, self.world_size, self.clock = run, prompts_total, world_size, clock
        self.batches = 0
        self.prompts_done = 0
        self.generated_tokens = 0
        self.started = clock()
        self.define_metrics()

    def define_metrics(self) -> None:
        define_metrics(self.run)

    def start(self) -> None:
        """Restart the clock (call when generation starts if the logger was built earlier)."""
        self.started = self.clock()

    def __call__(self, records: list[dict], generated_tokens: int) -> dict[str, float | int]:
        """Log the row of one finished batch; ``generated_tokens`` is that batch's count. Returns the row."""
        done = self.prompts_done + len(records) * self.world_size
        self.prompts_done = min(done, self.prompts_total) if self.prompts_total else done
        self.generated_tokens += generated_tokens * self.world_size
        row = batch_row(
            records,
            self.batches,
            self.prompts_done,
            self.prompts_total,
            self.clock() - self.started,
            self.generated_tokens,
        )
        self.run.log(row)  # no step=: W&B's _step keeps counting log calls
        self.batches += 1
        return row


def batch_logger(trainer: Any, prompts_total: int) -> BatchLogger | None:
    """A ``BatchLogger`` on ``trainer``'s W&B run, on global rank 0; None without a W&B logger or elsewhere."""
    from lightning.pytorch.loggers import WandbLogger

    if not trainer.is_global_zero:
        return None
    loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
    if not loggers:
        return None
    return BatchLogger(loggers[0].experiment, prompts_total, world_size=trainer.world_size)
