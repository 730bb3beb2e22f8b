"""A console progress bar counted in prompts rather than batches."""

from __future__ import annotations

import math

from lightning.pytorch.callbacks import TQDMProgressBar


class PromptProgressBar(TQDMProgressBar):
    def __init__(self, num_prompts: int):
        super().__init__()
        self.num_prompts = num_prompts

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        total = math.ceil(self.num_prompts / trainer.world_size)  # this rank's share
        if self.predict_progress_bar.total != total:
            self.predict_progress_bar.reset(total=total)
            self.predict_progress_bar.set_description("prompts")

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.predict_progress_bar.update(len(batch))
