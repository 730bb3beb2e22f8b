"""Stop a job on a signal once the work in flight is kept (``entrgi.pipeline.preempt``): a run's predict batch
written, a post-training step checkpointed."""

from __future__ import annotations

from pathlib import Path

from lightning.pytorch.callbacks import Callback

from entrgi.pipeline.preempt import StopSignals


class StopAfterBatch(Callback):
    """After each predict batch (and after the writer, which comes first in the callback list):
    when a stop signal arrived, mark the rank's stats as stopped and raise ``RunStopped``."""

    def __init__(self, signals: StopSignals, writer, total: int):
        self.signals, self.writer, self.total = signals, writer, total

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if self.signals.requested:
            self.writer.mark_stopped(trainer)
            raise self.signals.stopped(self.writer.stats["prompts"], self.total)


class StopAfterStep(Callback):
    """After each optimizer step of post-training: when a stop signal arrived, save ``last`` (the checkpoint
    ``resume=true`` continues from) and stop the trainer; ``stopped`` then holds the ``RunStopped`` to raise."""

    def __init__(self, signals: StopSignals, last: Path, max_steps: int):
        self.signals, self.last, self.max_steps = signals, Path(last), max_steps
        self.stopped = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.signals.requested and self.stopped is None:
            trainer.save_checkpoint(str(self.last))
            trainer.should_stop = True
            self.stopped = self.signals.stopped(trainer.global_step, self.max_steps, unit="optimizer steps")
