"""Hugging Face dLLM adapters: Dream (shifted logits) and LLaDA (unshifted), loaded by ``from_pretrained``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AutoModel, AutoTokenizer

from entrgi.engine.models.adapters import load_adapter, quantization_kwargs
from entrgi.engine.models.attention import bidirectional_inputs
from entrgi.engine.models.base import DiffusionLM, EncodedPrompts
from entrgi.engine.models.chat_template import generation_prompt_ids
from entrgi.engine.models.dtypes import dtype_kwarg, resolve_device, resolve_dtype
from entrgi.engine.models.padding import pad_rows


def left_padding(attention_mask: torch.Tensor) -> torch.Tensor:
    """The number of leading unattended positions of each row: [N, S] bool -> [N] long."""
    return (attention_mask.cumsum(-1) == 0).sum(-1)


def roll_rows(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate each row left by its own ``shift``: out[i, j] = x[i, (j + shift[i]) % S]; [N, S] -> [N, S]."""
    cols = torch.arange(x.shape[1], device=x.device)
    return x.gather(1, (cols + shift[:, None]) % x.shape[1])


class HFDiffusionLM(DiffusionLM):
    """A dLLM checkpoint with a chat template, run bidirectionally over prompt + masked response.

    ``shift_logits``: the model predicts position i from hidden state i-1 (Dream); otherwise
    from hidden state i (LLaDA). ``mask_4d``: pass a boolean [N, 1, S, S] attention mask and
    position ids ``cumsum(mask) - 1`` (Dream's own sampler); otherwise a 2D mask only.
    ``pad_to_end``: the model takes no position ids (positions are 0..S-1), so each row's left
    padding is moved to the end of the row before the forward and the logits are read back at the
    caller's columns: a row's attended tokens sit at positions 0.. whatever batch it is in.
    """

    shift_logits: bool = False
    mask_4d: bool = True
    pad_to_end: bool = False
    head_at_positions: bool = True  # the forward ends with get_output_embeddings(), a linear layer
    # trust_remote_code's default: run Python code shipped with a checkpoint only for families that
    # need it (Dream, LLaDA); it executes that repository's code with your permissions.
    remote_code: bool = False

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        *,
        mask_token_id: int | None = None,
        stop_tokens: Sequence[str] = (),
        max_length: int | None = None,
        lora_target_modules: Sequence[str] = (),
    ):
        self.model = model.eval().requires_grad_(False)
        self.lora_target_modules = list(lora_target_modules)  # the layers post-training adapts (lora.target_modules)
        self.tokenizer = tokenizer
        mask_token_id = mask_token_id if mask_token_id is not None else tokenizer.mask_token_id
        if mask_token_id is None:
            raise ValueError(
                "the dLLM tokenizer has no mask token (tokenizer.mask_token is None); "
                "set model.mask_token_id to the id the model was trained with"
            )
        self.mask_token_id = int(mask_token_id)
        if tokenizer.eos_token_id is None:
            raise ValueError("the dLLM tokenizer has no eos token; set it in the tokenizer config")
        self.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        stops = {tokenizer.eos_token_id, self.pad_token_id}
        for tok in stop_tokens:
            tid = tokenizer.convert_tokens_to_ids(tok)
            if tid is None or tid == tokenizer.unk_token_id:
                raise ValueError(f"model.stop_tokens: {tok!r} is not a token of the dLLM tokenizer")
            stops.add(tid)
        self.stop_token_ids = sorted(stops)
        self.vocab_size = (
            int(model.get_output_embeddings().weight.shape[0])
            if model.get_output_embeddings() is not None
            else int(model.config.vocab_size)
        )
        self.max_length = (
            max_length
            or getattr(model.config, "max_position_embeddings", None)
            or getattr(model.config, "max_sequence_length", None)
        )

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        *,
        dtype: str | torch.dtype = "bfloat16",
        device: str | None = None,
        trust_remote_code: bool | None = None,
        mask_token_id: int | None = None,
        stop_tokens: Sequence[str] = (),
        max_length: int | None = None,
        attn_implementation: str | None = None,
        adapter: str | None = None,
        quantization: str | None = None,
        lora_target_modules: Sequence[str] = (),
    ) -> HFDiffusionLM:
        """Load tokenizer and model from a hub id or a local directory onto ``device``.

        ``device``: ``auto``/None (this rank's GPU, else cpu), ``cpu``, ``cuda`` or ``cuda:N``; see
        ``resolve_device``. It is checked before anything is read. transformers maps safetensors
        weights loaded in their stored dtype without a host copy; ``.to(device)`` then copies them
        straight from the file to the device (a dtype cast costs one transient host copy).

        ``adapter``: a LoRA adapter folder (peft's format, e.g. a post-training run's ``adapter/``) applied
        on top, unmerged. ``quantization``: ``4bit`` loads NF4 weights through bitsandbytes (CUDA only).
        ``lora_target_modules``: the layers ``python -m entrgi.posttrain`` adapts in this family.
        """
        device = resolve_device(device, "model.device")
        quantized = quantization_kwargs(quantization, device)
        if trust_remote_code is None:  # only the model families whose checkpoints ship their own code
            trust_remote_code = cls.remote_code
        kwargs = dtype_kwarg(resolve_dtype(dtype))
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(path, trust_remote_code=trust_remote_code, **kwargs, **quantized)
        if not quantized:  # a quantized model is placed by its device_map
            model.to(device)
        if adapter:
            model = load_adapter(model, adapter)
        return cls(
            model,
            tokenizer,
            mask_token_id=mask_token_id,
            stop_tokens=stop_tokens,
            max_length=max_length,
            lora_target_modules=lora_target_modules,
        )

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prompt_ids(self, messages) -> list[list[int]]:
        """Chat-formatted prompt ids (generation prompt added), one list per prompt."""
        return generation_prompt_ids(self.tokenizer, messages)

    def encode(self, messages, max_new_tokens, sample_ids=None) -> EncodedPrompts:
        ids = self.prompt_ids(messages)
        prompt_len = max(len(x) for x in ids)
        if self.max_length is not None:
            for i, x in enumerate(ids):
                if len(x) + max_new_tokens > self.max_length:
                    who = f"sample {sample_ids[i]!r}" if sample_ids is not None else f"prompt {i}"
                    raise ValueError(
                        f"{who} has {len(x)} prompt tokens; with schedule.max_new_tokens={max_new_tokens} that "
                        f"exceeds the dLLM context of {self.max_length} tokens. Shorten or drop the prompt, or "
                        "lower schedule.max_new_tokens."
                    )
        prompt, attended = pad_rows(ids, self.pad_token_id, left=True)  # [B, P]
        masks = torch.full((len(ids), max_new_tokens), self.mask_token_id, dtype=torch.long)
        tokens = torch.cat([prompt, masks], dim=1)
        attn = torch.cat([attended, torch.ones_like(masks, dtype=torch.bool)], dim=1)
        return EncodedPrompts(tokens.to(self.device), attn.to(self.device), prompt_len)

    def _forward(self, tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.mask_4d:
            mask, pos = bidirectional_inputs(attention_mask)  # [N, 1, S, S], [N, S]
            return self.model(tokens, attention_mask=mask, position_ids=pos).logits
        return self.model(tokens, attention_mask=attention_mask.long()).logits

    def _head_name(self) -> str | None:
        """The attribute path of the output head when it is a plain linear layer applied last."""
        head = self.model.get_output_embeddings()
        if not self.head_at_positions or not isinstance(head, torch.nn.Linear):
            return None
        return next((name for name, mod in self.model.named_modules() if mod is head and name), None)

    @torch.no_grad()
    def response_logits(self, tokens, attention_mask, prompt_len, positions=None, dtype=torch.float32):
        return self._response_logits(tokens, attention_mask, prompt_len, positions, dtype)

    def train_logits(self, tokens, attention_mask, prompt_len):
        return self._response_logits(tokens, attention_mask, prompt_len, None, torch.float32)

    def _response_logits(self, tokens, attention_mask, prompt_len, positions, dtype):
        length = tokens.shape[1] - prompt_len
        start = prompt_len - 1 if self.shift_logits else prompt_len  # shifted: position i from hidden state i - 1
        if self.pad_to_end:
            pad = left_padding(attention_mask)  # [N]
            tokens, attention_mask = roll_rows(tokens, pad), roll_rows(attention_mask, pad)

        def at_positions(x: torch.Tensor) -> torch.Tensor:  # [N, S, H] -> [N, L or G, H]
            if self.pad_to_end:  # the caller's column c is column c - pad of the rolled rows
                cols = torch.arange(length, device=x.device).expand(x.shape[0], -1) if positions is None else positions
                cols = start + cols - pad[:, None]  # [N, L or G]
                return x.gather(1, cols[..., None].expand(-1, -1, x.shape[-1]))
            x = x[:, start : start + length]
            return x if positions is None else x.gather(1, positions[..., None].expand(-1, -1, x.shape[-1]))

        name = self._head_name()
        if name is None:
            return at_positions(self._forward(tokens, attention_mask)).to(dtype)
        # Run the model with its head swapped for the identity, then apply the head to the
        # wanted positions only: no [N, S, V] logits over the prompt and the committed positions.
        parent_name, _, attr = name.rpartition(".")
        parent = self.model.get_submodule(parent_name) if parent_name else self.model
        head = getattr(parent, attr)
        setattr(parent, attr, torch.nn.Identity())
        try:
            hidden = self._forward(tokens, attention_mask)  # [N, S, H]
        finally:
            setattr(parent, attr, head)
        return head(at_positions(hidden).to(head.weight.dtype)).to(dtype)


class DreamLM(HFDiffusionLM):
    """``Dream-org/Dream-v0-Instruct-7B``: shifted logits, 4D boolean mask, ``<|mask|>`` from the tokenizer."""

    shift_logits = True
    mask_4d = True
    remote_code = True  # modeling_dream.py ships with the checkpoint


class LLaDALM(HFDiffusionLM):
    """``GSAI-ML/LLaDA-8B-Instruct``: unshifted logits, mask id 126336, 2D attention mask.

    Its forward takes no position ids (rotary positions 0..S-1), so left padding is moved to the
    end of each row (``pad_to_end``): a prompt's logits do not depend on the batch it is in.
    """

    shift_logits = False
    mask_4d = False
    pad_to_end = True
    head_at_positions = False  # its remote code applies the output layer inside the backbone
    remote_code = True  # modeling_llada.py ships with the checkpoint
    DEFAULT_MASK_ID = 126336

    @classmethod
    def from_pretrained(cls, path, *, mask_token_id=None, **kwargs):
        return super().from_pretrained(
            path, mask_token_id=mask_token_id if mask_token_id is not None else cls.DEFAULT_MASK_ID, **kwargs
        )


class BidirectionalLM(HFDiffusionLM):
    """Unshifted logits with a 4D mask and position ids (the project's testbed dLLM)."""

    shift_logits = False
    mask_4d = True
