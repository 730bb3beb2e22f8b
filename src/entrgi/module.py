"""The LightningModule: a thin predict_step around the guided denoiser."""

from __future__ import annotations

from typing import Any

from lightning import LightningModule

from entrgi.denoiser import GenerationOutput, GuidedDenoiser
from entrgi.types import PromptItem


class GuidedDenoisingModule(LightningModule):
    """Holds the frozen models as submodules (so Lightning places them on each rank's device);
    ``predict_step`` denoises one batch of prompts. Run it with ``Trainer(inference_mode=False)``.
    """

    def __init__(self, denoiser: GuidedDenoiser, config: dict[str, Any] | None = None):
        super().__init__()
        self.save_hyperparameters(ignore=["denoiser"])
        self.denoiser = denoiser
        self.dllm = denoiser.lm.model
        self.reward_model = denoiser.reward.model if hasattr(denoiser.reward, "model") else None

    def transfer_batch_to_device(self, batch, device, dataloader_idx):
        return batch  # prompts stay on the host; the denoiser tokenizes onto the model's device

    def predict_step(self, batch: list[PromptItem], batch_idx: int, dataloader_idx: int = 0) -> GenerationOutput:
        return self.denoiser.generate(batch)
