"""Stop a run on a signal once the batch in flight is written (``entrgi.pipeline.preempt``)."""

from __future__ import annotations

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
