"""Analytic compute of a run from its pass and token counts and the models' parameter counts.

FLOPs = 2 x P_dLLM x (dLLM token positions forwarded)
      + 2 x P_reward x (reward token positions forwarded)
      + 2 x P_reward x (reward token positions backpropagated, input gradients only)

P counts the parameters that multiply per token (``entrgi.engine.models.usage.matmul_params``: all but
an untied input-embedding lookup). Attention's sequence-length term and the dLLM head applied at
masked positions only are left out: the formula is the standard 2 x params x tokens estimate, the
same for every method, so methods compare on one scale. Padding positions count (they are computed).
The backward for input gradients is one more matrix product per weight (dX = dY W^T), the same
cost as the forward; weight gradients are never computed.
"""

from __future__ import annotations

FORMULA = (
    "2*P_dllm*dllm_tokens + 2*P_reward*reward_forward_tokens + 2*P_reward*reward_backward_tokens "
    "(P: parameters in matrix products; backward: input gradients only)"
)

COUNTERS = (
    "dllm_forwards",
    "dllm_tokens",
    "reward_forwards",
    "reward_forward_tokens",
    "reward_backwards",
    "reward_backward_tokens",
    "guided_steps",
)


def compute_summary(counters: dict[str, int], dllm_params: int, reward_params: int, num_prompts: int) -> dict:
    """``counters``: the denoiser's summed counters (``dllm_calls`` is the dLLM forward count)."""
    counts = {key: int(counters.get(key, 0)) for key in COUNTERS}
    counts["dllm_forwards"] = int(counters.get("dllm_calls", counts["dllm_forwards"]))
    dllm_flops = 2 * dllm_params * counts["dllm_tokens"]
    reward_flops = 2 * reward_params * (counts["reward_forward_tokens"] + counts["reward_backward_tokens"])
    flops = dllm_flops + reward_flops
    return counts | {
        "dllm_params": int(dllm_params),
        "reward_params": int(reward_params),
        "dllm_flops": float(dllm_flops),
        "reward_flops": float(reward_flops),
        "flops": float(flops),
        "prompts": num_prompts,  # generated in this invocation (a resumed run counts only its new prompts)
        "flops_per_prompt": float(flops) / num_prompts if num_prompts else None,
        "formula": FORMULA,
    }
