"""Completions of the shipped testbed dLLM for the post-training tests (the estimators' unit tests and their
contract suite): two prompts of different lengths, K=2 responses each, one stopping early."""

import torch

from entrgi.engine import rng
from entrgi.engine.posttrain import Completions, through_first_stop

SHORT = [{"role": "user", "content": "the cat eat food"}]
LONG = [{"role": "user", "content": "the big cat eat food near the river"}]
K = 2
# B*K = 4 responses (sample-major): row 1 stops at position 2 and has non-stop tokens after it.
RESPONSES = [
    [233, 44, 91, 141, 233, 4],
    [233, 31, 0, 91, 44, 141],
    [266, 44, 4, 91, 2, 141],
    [141, 233, 44, 4, 91, 233],
]
TARGETS = ["qkv", "proj", "mlp.0", "mlp.2"]


def completions(lm, messages, responses, k, seed=7) -> Completions:
    """The prompts (each repeated k times) followed by ``responses`` [B*k, L], keyed by (seed, prompt, k)."""
    responses = torch.tensor(responses)
    enc = lm.encode(messages, responses.shape[1])
    p = enc.prompt_len
    tokens = enc.tokens.repeat_interleave(k, 0).clone()
    tokens[:, p:] = responses
    return Completions(
        tokens=tokens,
        prompt_attention=enc.attention_mask[:, :p].repeat_interleave(k, 0),
        prompt_len=p,
        mask=through_first_stop(responses, torch.tensor(lm.stop_token_ids)),
        keys=rng.trajectory_keys(seed, torch.arange(len(messages)) + 11, k),
    )
