"""The LightningModule: a thin predict_step around the guided denoiser."""

from __future__ import annotations

from typing import Any

from lightning import LightningModule

from entrgi.engine.denoiser import GenerationOutput, GuidedDenoiser
from entrgi.engine.types import PromptItem
from entrgi.pipeline.oom import empty_output, generate_with_split


class GuidedDenoisingModule(LightningModule):
    """Holds the frozen models as submodules (so Lightning places them on each rank's device);
    ``predict_step`` denoises one batch of prompts. Run it with ``Trainer(inference_mode=False)``.

    A batch that runs out of memory is split in half and retried, down to one prompt; a prompt that
    does not fit alone is skipped, named in the log and counted in ``counters["oom_skipped"]``
    (:mod:`entrgi.pipeline.oom`). Its sample_ids are kept in ``oom_skipped_ids`` on this rank.
    """

    def __init__(self, denoiser: GuidedDenoiser, config: dict[str, Any] | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["denoiser"])
        self.denoiser = denoiser
        self.dllm = denoiser.lm.model
        self.reward_model = denoiser.reward.model
        self.oom_skipped_ids: list[str] = []

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # prompts stay on the host; the denoiser tokenizes onto the model's device

    def predict_step(self, batch: list[PromptItem], batch_idx: int, dataloader_idx: int = 0) -> GenerationOutput:
        out, skipped = generate_with_split(self.denoiser.generate, batch)
        self.oom_skipped_ids += skipped
        if out is None:
            return empty_output({"oom_skipped": len(skipped)})
        if skipped:
            out.counters["oom_skipped"] = out.counters.get("oom_skipped", 0) + len(skipped)
        return out
