"""Host-side counts of what a model computed, for compute accounting (no device reads)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass
class ModelUsage:
    """Forward and backward passes and the token positions they covered (padding included: the
    hardware computes it). ``backward`` counts passes run for input gradients only."""

    forwards: int = 0
    forward_tokens: int = 0
    backwards: int = 0
    backward_tokens: int = 0

    def forward(self, tokens: int, backward: bool = False) -> None:
        self.forwards += 1
        self.forward_tokens += int(tokens)
        if backward:
            self.backwards += 1
            self.backward_tokens += int(tokens)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def since(self, before: dict[str, int]) -> dict[str, int]:
        return {key: value - before.get(key, 0) for key, value in self.as_dict().items()}


def matmul_params(model: torch.nn.Module) -> int:
    """Parameters that take part in a matrix product per token: all of them except an input
    embedding table that is a lookup (kept when it is tied to the output head, which multiplies)."""
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if emb is None or (head is not None and head.weight is emb.weight):
        return int(total)
    return int(total - emb.weight.numel())
