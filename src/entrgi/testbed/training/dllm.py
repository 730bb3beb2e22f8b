"""Training recipe for the testbed dLLM: the masked-diffusion objective (LLaDA / MDLM style).

A training sequence is the chat-formatted prompt (left-padded within a batch) followed by the
response and ``<|endoftext|>`` up to ``response_length`` tokens; the end-of-text tokens are
real targets, so the model learns where a response ends. Per sequence ``t ~ U(eps, 1)``; each
response token is replaced by ``<|mask|>`` with probability ``t``; the loss is the *unweighted*
mean cross-entropy over masked response positions (every masked token counts once; the ELBO's
``1/t`` weight would put large weights on the few tokens masked at small ``t``, a noisier gradient).
Prompt tokens are never masked. The model sees exactly what ``BidirectionalLM`` passes at
inference: the 4D boolean mask and position ids of ``entrgi.engine.models.attention.bidirectional_inputs``.
"""

from __future__ import annotations

from functools import partial

import lightning as L
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from entrgi.engine.models.attention import bidirectional_inputs
from entrgi.engine.models.chat_template import generation_prompt_ids
from entrgi.engine.models.padding import pad_rows
from entrgi.testbed.language import sample_pairs
from entrgi.testbed.modeling_tiny_dllm import TinyDLMConfig, TinyDLMForMaskedDiffusion
from entrgi.testbed.tokenizers import build_dllm_tokenizer
from entrgi.testbed.training.common import VALIDATION_SEED_OFFSET, PretrainedRecipe, seeded_loader

RESPONSE_LENGTH = 48  # tokens; every natural response (<= 48 words) fits


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Prompt ids: the chat template over the user turn, with the assistant header (as at inference)."""
    return generation_prompt_ids(tokenizer, [[{"role": "user", "content": prompt}]])[0]


def pad_response(ids: list[int], eos_id: int, length: int) -> list[int]:
    """Response ids followed by end-of-text up to ``length``."""
    if len(ids) > length:
        raise ValueError(f"response of {len(ids)} tokens exceeds response_length={length}")
    return ids + [eos_id] * (length - len(ids))


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad prompts to the batch's longest and append the responses.

    -> ``tokens`` [B, P+L], ``attention_mask`` [B, P+L] bool, ``response`` [B, L] bool (True on response).
    """
    width = max(len(p) for p, _ in examples)  # every response has the same length
    tokens, attention = pad_rows([prompt + response for prompt, response in examples], pad_id, left=True)
    response_mask = torch.zeros_like(attention)
    response_mask[:, width:] = True
    return {"tokens": tokens, "attention_mask": attention, "response": response_mask}


class DiffusionPairsData(L.LightningDataModule):
    """A fixed set of natural (prompt, response) pairs, tokenized once, plus held-out pairs."""

    def __init__(
        self,
        num_pairs: int = 50_000,
        val_pairs: int = 1024,
        batch_size: int = 128,
        seed: int = 0,
        response_length: int = RESPONSE_LENGTH,
    ):
        super().__init__()
        self.num_pairs, self.val_pairs = num_pairs, val_pairs
        self.batch_size, self.seed, self.response_length = batch_size, seed, response_length
        self.tokenizer = build_dllm_tokenizer()
        self._collate = partial(collate, pad_id=self.tokenizer.pad_token_id)
        self.train_set: list[tuple[list[int], list[int]]] = []
        self.val_set: list[tuple[list[int], list[int]]] = []

    def _encode(self, n: int, seed: int) -> list[tuple[list[int], list[int]]]:
        pairs = sample_pairs(n, seed)
        tok = self.tokenizer
        prompts = {text: encode_prompt(tok, text) for text in {p.text for p, _ in pairs}}
        responses = tok([r for _, r in pairs], add_special_tokens=False)["input_ids"]
        return [
            (prompts[p.text], pad_response(ids, tok.eos_token_id, self.response_length))
            for (p, _), ids in zip(pairs, responses, strict=True)
        ]

    def setup(self, stage: str | None = None) -> None:
        if not self.train_set:
            self.train_set = self._encode(self.num_pairs, self.seed)
            self.val_set = self._encode(self.val_pairs, self.seed + VALIDATION_SEED_OFFSET)

    def train_dataloader(self) -> DataLoader:
        return seeded_loader(self.train_set, self.batch_size, True, self.seed, self._collate)

    def val_dataloader(self) -> DataLoader:
        return seeded_loader(self.val_set, self.batch_size, False, self.seed, self._collate)


class MaskedDiffusionTrainer(PretrainedRecipe):
    """Trains a ``TinyDLMForMaskedDiffusion`` on the testbed language; ``save_pretrained`` ships it."""

    def __init__(
        self,
        hidden_size: int = 128,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 512,
        max_position_embeddings: int = 96,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_fraction: float = 0.05,
        eps: float = 1e-3,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.tokenizer = build_dllm_tokenizer()
        config = TinyDLMConfig(
            vocab_size=len(self.tokenizer),
            hidden_size=hidden_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=num_attention_heads,
            intermediate_size=intermediate_size,
            max_position_embeddings=max_position_embeddings,
            mask_token_id=self.tokenizer.mask_token_id,
        )
        self.model = TinyDLMForMaskedDiffusion(config)

    def diffusion_loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean cross-entropy over masked response positions at ``t ~ U(eps, 1)`` per sequence."""
        tokens, attention, response = batch["tokens"], batch["attention_mask"], batch["response"]
        eps = self.hparams.eps
        t = eps + (1 - eps) * torch.rand(tokens.shape[0], 1, generator=generator, device=tokens.device)  # [B, 1]
        noise = torch.rand(tokens.shape, generator=generator, device=tokens.device)  # [B, S]
        masked = response & (noise < t)
        noisy = tokens.masked_fill(masked, self.tokenizer.mask_token_id)
        mask_4d, positions = bidirectional_inputs(attention)  # [B, 1, S, S], [B, S]
        logits = self.model(noisy, attention_mask=mask_4d, position_ids=positions).logits  # [B, S, V]
        return F.cross_entropy(logits[masked].float(), tokens[masked])

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.diffusion_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["tokens"]))
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        generator = torch.Generator(device=batch["tokens"].device).manual_seed(batch_idx)  # same noise every time
        self.log("val/loss", self.diffusion_loss(batch, generator), prog_bar=True, batch_size=len(batch["tokens"]))
