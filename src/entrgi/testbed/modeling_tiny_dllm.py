"""A tiny bidirectional transformer for masked diffusion, in the shape of Dream / LLaDA checkpoints.

Self-contained (imports only torch and transformers) because ``save_pretrained`` copies this
file next to the weights with an ``auto_map``: the checkpoint then loads through
``AutoModel.from_pretrained(dir, trust_remote_code=True)`` exactly as Dream and LLaDA do.
Accepts a 2D padding mask or a 4D boolean mask, and explicit position ids.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput


class TinyDLMConfig(PretrainedConfig):
    model_type = "entrgi_tiny_dllm"

    def __init__(
        self,
        vocab_size: int = 512,
        hidden_size: int = 128,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 512,
        max_position_embeddings: int = 256,
        dropout: float = 0.0,
        mask_token_id: int | None = None,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.dropout = dropout
        self.mask_token_id = mask_token_id
        super().__init__(**kwargs)


class _Block(nn.Module):
    def __init__(self, cfg: TinyDLMConfig):
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.norm1 = nn.LayerNorm(cfg.hidden_size)
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.norm2 = nn.LayerNorm(cfg.hidden_size)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.hidden_size, cfg.intermediate_size),
            nn.GELU(),
            nn.Linear(cfg.intermediate_size, cfg.hidden_size),
        )
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)  # [B, H, S, d_h]
        x = x + F.dropout(self.proj(a.transpose(1, 2).reshape(b, s, d)), drop, self.training)
        return x + F.dropout(self.mlp(self.norm2(x)), drop, self.training)


class TinyDLMForMaskedDiffusion(PreTrainedModel):
    config_class = TinyDLMConfig
    base_model_prefix = "tiny_dllm"
    _supports_sdpa = True
    _tied_weights_keys = ["lm_head.weight"]

    def __init__(self, config: TinyDLMConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embed_positions = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.layers = nn.ModuleList(_Block(config) for _ in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()

    def get_input_embeddings(self):
        return self.embed_tokens

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids, attention_mask=None, position_ids=None, labels=None, **kwargs) -> MaskedLMOutput:
        b, s = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(s, device=input_ids.device).expand(b, s)
        if attention_mask is None:
            mask = None
        elif attention_mask.dim() == 2:  # padding mask over keys
            mask = attention_mask.bool()[:, None, None, :]
        else:  # [B, 1, S, S] boolean, True = may attend
            mask = attention_mask.bool()
        x = self.embed_tokens(input_ids) + self.embed_positions(position_ids)
        for layer in self.layers:
            x = layer(x, mask)
        logits = self.lm_head(self.norm(x))
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        return MaskedLMOutput(loss=loss, logits=logits)


TinyDLMConfig.register_for_auto_class()
TinyDLMForMaskedDiffusion.register_for_auto_class("AutoModel")
