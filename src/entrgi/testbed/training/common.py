"""What both testbed recipes share: the held-out seed, the seeded loader, the optimizer and the saving."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

VALIDATION_SEED_OFFSET = 1_000_003  # held-out data of a recipe with seed s is drawn from s + this


def seeded_loader(data: list, batch_size: int, shuffle: bool, seed: int, collate_fn: Callable) -> DataLoader:
    """A loader whose order depends only on ``seed``; a shuffled (training) loader drops the last partial batch."""
    return DataLoader(
        data,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed),
        collate_fn=collate_fn,
        drop_last=shuffle,
    )


def warmup_cosine(optimizer: torch.optim.Optimizer, module: L.LightningModule) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``hparams.warmup_fraction`` of the run, then cosine decay to 0 (stepped per batch)."""
    total = module.trainer.estimated_stepping_batches
    warmup = max(1, round(module.hparams.warmup_fraction * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class PretrainedRecipe(L.LightningModule):
    """AdamW with warmup + cosine, and saving as a HF checkpoint.

    Subclasses set ``self.model`` (a ``PreTrainedModel``) and ``self.tokenizer`` and save the
    hyper-parameters ``lr`` and ``weight_decay`` (and ``warmup_fraction`` for ``warmup_cosine``).
    """

    model: torch.nn.Module

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay, betas=(0.9, 0.98)
        )
        schedule = warmup_cosine(optimizer, self)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def save_pretrained(self, path: str | Path) -> Path:
        """Weights (safetensors; with the modeling file and ``auto_map`` where the config has one) and tokenizer."""
        self.model.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        return Path(path)
