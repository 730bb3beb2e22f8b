"""Position ids of the reward's input: prompt prefix (left-padded), response slots, template suffix.

Two layouts (``reward.position_ids``):

- ``contiguous`` (default): positions count attended tokens only, so the suffix follows the response's
  last attended token and one-hot response embeddings score exactly as the decoded text does.
- ``authors``: as the authors' scripts feed the reward (``main_expts/entrgi.py``, ``entrgi_ar.py``:
  ``inputs_embeds`` with an attention mask and no position ids), every response slot takes a position
  whether it is attended or not, so the suffix sits after a gap as long as the masked-out tail of the
  response. Their positions also count the left padding of the batch's shorter prefixes; here a row's
  positions start at its first attended token. Rotary position embeddings see only differences of
  positions, so the two agree up to float rounding, and a row's score stays independent of its batch.
"""

from __future__ import annotations

import torch

from entrgi.engine.checks import require_choice
from entrgi.engine.models.reward_base import POSITION_LAYOUTS


def check_layout(layout: str) -> str:
    require_choice(layout, "reward.position_ids", POSITION_LAYOUTS)
    return layout


def layout_positions(mask: torch.Tensor, prefix_cols: int, layout: str) -> torch.Tensor:
    """Position ids [N, S] for the attention mask [N, S] of prefix (its first ``prefix_cols`` columns,
    left-padded) + response + suffix."""
    if layout == "contiguous":
        return (mask.long().cumsum(-1) - 1).clamp_min(0)
    prefix = mask[:, :prefix_cols].long()
    start = prefix.sum(-1, keepdim=True)  # [N, 1] attended prefix tokens
    rest = start + torch.arange(mask.shape[1] - prefix_cols, device=mask.device)  # every later column counts
    return torch.cat([(prefix.cumsum(-1) - 1).clamp_min(0), rest], dim=1)
