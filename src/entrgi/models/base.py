"""The DiffusionLM interface: what guidance and the denoising loop need from a dLLM."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class EncodedPrompts:
    tokens: torch.Tensor  # [B, P + L] left-padded prompt, then L mask tokens
    attention_mask: torch.Tensor  # [B, P + L] bool, False on left padding
    prompt_len: int  # P


class DiffusionLM(ABC):
    """A masked discrete diffusion LM seen as: prompts -> canvas, canvas -> response logits."""

    tokenizer: object
    mask_token_id: int
    pad_token_id: int
    stop_token_ids: list[int]  # a response ends at the first of these
    vocab_size: int  # size of the logits' last dimension
    max_length: int | None  # context size, when the model declares one

    @property
    @abstractmethod
    def device(self) -> torch.device: ...

    @abstractmethod
    def encode(
        self, messages: Sequence[list[dict[str, str]]], max_new_tokens: int, sample_ids: Sequence[str] | None = None
    ) -> EncodedPrompts:
        """Chat-format and left-pad the prompts, append ``max_new_tokens`` mask tokens."""

    @abstractmethod
    def response_logits(
        self, tokens: torch.Tensor, attention_mask: torch.Tensor, prompt_len: int, positions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits predicting each response position: [N, P+L] -> [N, L, V] (fp32); with
        ``positions`` [N, G] (response positions) only those: [N, G, V]."""

    def decode(self, response_tokens: torch.Tensor) -> list[str]:
        """Response ids [N, L] -> text, cut at the first stop token, special tokens dropped."""
        stops = torch.isin(response_tokens, torch.tensor(self.stop_token_ids, device=response_tokens.device))
        keep = torch.cumsum(stops.long(), dim=-1) == 0
        rows = [row[k].tolist() for row, k in zip(response_tokens.cpu(), keep.cpu(), strict=True)]
        return self.tokenizer.batch_decode(rows, skip_special_tokens=True)
