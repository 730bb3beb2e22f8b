"""Bidirectional attention inputs over a left-padded canvas, shared by dLLM inference and training."""

from __future__ import annotations

import torch


def bidirectional_inputs(attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, S] bool (False on padding) -> 4D boolean mask [N, 1, S, S] and position ids [N, S].

    Every attended token sees every attended token; positions count attended tokens from 0
    (padding gets position 1, a value it never uses since nothing attends to it).
    """
    positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(~attention_mask, 1)
    mask = attention_mask[:, None, None, :] & attention_mask[:, None, :, None]
    return mask, positions
