"""The DiffusionLM contract: what guidance, the denoising loop and the framework need from a dLLM.

Every implementation passes ``tests/contracts/test_diffusion_lm.py``.
"""

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
    """A masked discrete diffusion LM seen as: prompts -> canvas, canvas -> response logits.

    Members an implementation sets in ``__init__``:

    - ``model``: the ``torch.nn.Module`` holding every weight; the framework registers it as a
      submodule so Lightning moves it to each rank's device (``device`` must follow it) and counts
      its parameters for compute accounting.
    - ``tokenizer``: its chat template formats prompts; ``decode`` reads responses with it.
    - ``mask_token_id``: the id of a masked position; ``pad_token_id``: left padding (never attended).
    - ``stop_token_ids``: a response ends at the first of these (they include eos and pad).
    - ``vocab_size``: V, the size of the logits' last dimension (may exceed ``len(tokenizer)``).
    - ``max_length``: the context size in tokens (prompt + response), or None when undeclared.

    Contract (checked for every implementation by the contract tests): ``encode`` left-pads, ends in
    exactly ``max_new_tokens`` mask tokens on ``device``; ``response_logits`` is fp32 [N, L, V], a
    row's logits depend neither on the other rows nor on its left padding, and with ``positions`` it
    equals the full logits gathered there; ``decode`` cuts at the first stop token.
    """

    model: torch.nn.Module
    tokenizer: object
    mask_token_id: int
    pad_token_id: int
    stop_token_ids: list[int]  # a response ends at the first of these
    vocab_size: int  # size of the logits' last dimension
    max_length: int | None  # context size, when the model declares one

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Where ``model`` lives; ``encode`` puts its tensors there."""

    @property
    def logits_dtype(self) -> torch.dtype:
        """The dtype the model computes its logits in (its floating parameters'; ``response_logits``
        upcasts them to fp32). Guidance with ``fp32=false`` keeps its state in it."""
        tensor = next((t for t in self.model.parameters() if t.is_floating_point()), None)
        return tensor.dtype if tensor is not None else torch.float32

    @abstractmethod
    def prompt_ids(self, messages: Sequence[list[dict[str, str]]]) -> list[list[int]]:
        """Chat-formatted prompt ids, generation prompt included, one list per prompt (no padding).
        ``encode`` lays out exactly these ids; callers measure prompt lengths with it."""

    @abstractmethod
    def encode(
        self, messages: Sequence[list[dict[str, str]]], max_new_tokens: int, sample_ids: Sequence[str] | None = None
    ) -> EncodedPrompts:
        """Chat-format and left-pad the prompts, append ``max_new_tokens`` mask tokens: B prompts ->
        tokens [B, P + L] and attention mask [B, P + L] (False on the left padding only), on ``device``.
        Raises ValueError naming the sample (``sample_ids[i]`` when given) when a prompt plus the
        response exceeds ``max_length``."""

    @abstractmethod
    def response_logits(
        self,
        tokens: torch.Tensor,
        attention_mask: torch.Tensor,
        prompt_len: int,
        positions: torch.Tensor | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Logits predicting each response position: [N, P+L] -> [N, L, V] (fp32); with
        ``positions`` [N, G] (response positions, 0 <= p < L) only those: [N, G, V], equal to the
        full logits gathered at them. ``dtype``: of the result; ``logits_dtype`` returns the model's
        own values without the upcast. No gradient is needed (the model is frozen)."""

    def train_logits(self, tokens: torch.Tensor, attention_mask: torch.Tensor, prompt_len: int) -> torch.Tensor:
        """``response_logits`` with autograd: [N, P+L] -> fp32 [N, L, V], differentiable in the trainable
        parameters (post-training, ``entrgi.engine.posttrain``). An implementation that cannot be trained
        keeps this default."""
        raise NotImplementedError(
            f"{type(self).__name__} does not support post-training (DiffusionLM.train_logits); "
            "use a transformers-backed model (entrgi.engine.models.HFDiffusionLM)"
        )

    def decode(self, response_tokens: torch.Tensor) -> list[str]:
        """Response ids [N, L] -> N strings, cut at the first stop token, special tokens dropped."""
        stops = torch.isin(response_tokens, torch.tensor(self.stop_token_ids, device=response_tokens.device))
        keep = torch.cumsum(stops.long(), dim=-1) == 0
        rows = [row[k].tolist() for row, k in zip(response_tokens.cpu(), keep.cpu(), strict=True)]
        return self.tokenizer.batch_decode(rows, skip_special_tokens=True)
