"""The completions a post-training step learns from: prompt + response ids, which response tokens
count, and the keys that make every random draw a function of (seed, step, sample, trajectory)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


def through_first_stop(response: torch.Tensor, stop_ids: torch.Tensor) -> torch.Tensor:
    """[N, L] ids -> [N, L] bool: positions up to and including the first stop token (every position
    when there is none), the authors' ``completion_mask``."""
    stops = torch.isin(response, stop_ids)
    before = torch.cumsum(stops.long(), dim=-1) - stops.long()  # stops strictly before each position
    return before == 0


@dataclass
class Completions:
    """N = B*K completions (sample-major), laid out as the dLLM reads them."""

    tokens: torch.Tensor  # [N, P+L] left-padded prompt, then the response
    prompt_attention: torch.Tensor  # [N, P] bool, False on the left padding
    prompt_len: int  # P
    mask: torch.Tensor  # [N, L] bool: the response tokens that count (through the first stop token)
    keys: torch.Tensor  # [N] randomness keys (entrgi.engine.rng)

    @property
    def response(self) -> torch.Tensor:
        return self.tokens[:, self.prompt_len :]

    @property
    def lengths(self) -> torch.Tensor:
        """[N] float: counted response tokens (at least 1), the authors' ``completion_length``."""
        return self.mask.sum(-1).clamp(min=1).float()

    def attention(self, attend_past_stop: bool) -> torch.Tensor:
        """[N, P+L] bool: the prompt without its padding, and the response through its first stop token
        (the authors' attention mask) or, with ``attend_past_stop``, all of it (as in generation)."""
        response = torch.ones_like(self.mask) if attend_past_stop else self.mask
        return torch.cat([self.prompt_attention, response], dim=1)

    def rows(self, index: torch.Tensor) -> Completions:
        """The completions at ``index`` ([M] long)."""
        return Completions(
            self.tokens[index], self.prompt_attention[index], self.prompt_len, self.mask[index], self.keys[index]
        )
