"""Paper-scale speed on one GPU: random-weight models at Dream-7B / Skywork-Reward-V2-Qwen3-1.7B shapes.

Timing does not depend on the weights (up to top-p's data-dependent work, which on CUDA is a fixed
31-step bisection), so random weights at the real shapes stand in for the checkpoints, which cannot
be downloaded here:

- dLLM: a ``Qwen2ForCausalLM`` with Dream-v0-Instruct-7B's shapes (hidden 3584, 28 layers, 28 heads,
  4 KV heads, intermediate 18944, V = 152,064), run bidirectionally through ``DreamLM`` (4D boolean
  mask, shifted logits, the head applied at the masked positions only), bf16, SDPA;
- reward: a ``Qwen3ForSequenceClassification`` with Qwen3-1.7B's shapes (hidden 2048, 28 layers,
  16 heads, 8 KV heads, intermediate 6144, V = 151,936) through ``SequenceClassifierReward`` (prompt
  prefix KV cache), bf16, SDPA;
- word-level tokenizers of those sizes; K=4, T=128, 128 new tokens, M=3, eta=0.5, tau=0.7,
  top_p=0.95, 200-token prompts, ``--prompts`` per generate() call (the paper: 4 per GPU).

Reported per method: seconds per prompt (one generate() after a short warm-up), peak GPU memory,
a time breakdown (dLLM forwards, reward forward/backward, the rest = vocabulary math + sampling and
commits, measured by timing the model calls alone on the same shapes), model FLOP utilization, and
the paper table's GPU-hours (3 datasets x 3 seeds x 64 prompts per method) from the measured seconds
per prompt. ``--max-batch`` also finds the largest prompts-per-GPU batch EntRGi fits in.

FLOPs (stated, counted from the shapes): a forward over n tokens costs 2 x P x n (P = the model's
non-embedding parameters; attention's quadratic term left out), plus 2 x H x V x G x N for the
dLLM head at the G masked positions; the reward's backward to its input embeddings counts one
forward again (input gradients only, no weight gradients); the soft-embedding matmul and its
backward 2 x 2 x N x G x V x D per inner step. MFU = FLOPs / (seconds x peak bf16 dense FLOP/s,
989e12 for H100 / H200).

    python bench/speed/gpu_paper.py                        # on a GPU -> bench/speed/gpu_paper.{json,md}
    python bench/speed/gpu_paper.py --max-batch            # also the largest batch that fits
    python bench/speed/gpu_paper.py --tiny --device cpu --out /tmp/gpu_smoke.json   # CPU smoke test

Only the engine layer is imported (no Hydra, Lightning, W&B or datasets).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shlex
import sys
import time
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import tokenizer  # noqa: E402  (word-level tokenizers with a ChatML template)

from entrgi.engine.denoiser import GuidedDenoiser  # noqa: E402
from entrgi.engine.guidance import GradientGuidance, NoGuidance  # noqa: E402
from entrgi.engine.models import DreamLM, SequenceClassifierReward  # noqa: E402
from entrgi.engine.schedule import DenoisingSchedule  # noqa: E402
from entrgi.engine.types import PromptItem  # noqa: E402

DREAM = dict(
    hidden_size=3584,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    intermediate_size=18944,
    vocab_size=152064,
)
QWEN3_1_7B = dict(
    hidden_size=2048,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    intermediate_size=6144,
    vocab_size=151936,
    head_dim=128,
)
TINY_DLLM = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    vocab_size=4096,
)
TINY_REWARD = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    vocab_size=4000,
    head_dim=16,
)
METHODS = {
    "bon": NoGuidance,
    "expectation": lambda: GradientGuidance(weight="zero"),
    "aps": lambda: GradientGuidance(weight="one"),
    "entrgi": lambda: GradientGuidance(weight="entropy"),
}
PEAK_BF16 = 989e12
K, M = 4, 3


def words(n: int) -> list[str]:
    return [f"w{i}" for i in range(n - 8)] + ["user", "assistant", "system"]


def build(device: torch.device, tiny: bool, dtype: torch.dtype):
    dshape, rshape = (TINY_DLLM, TINY_REWARD) if tiny else (DREAM, QWEN3_1_7B)
    dwords, rwords = words(dshape["vocab_size"]), words(rshape["vocab_size"])
    random.Random(0).shuffle(rwords)
    dtok, rtok = tokenizer(dwords, mask=True), tokenizer(rwords, mask=False)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # parameters created in bf16, straight on the device
    try:
        with torch.device(device):
            dllm = Qwen2ForCausalLM(
                Qwen2Config(
                    **dshape, max_position_embeddings=4096, tie_word_embeddings=False, attn_implementation="sdpa"
                )
            )
            reward = Qwen3ForSequenceClassification(
                Qwen3Config(
                    **rshape,
                    num_labels=1,
                    max_position_embeddings=4096,
                    pad_token_id=rtok.pad_token_id,
                    attn_implementation="sdpa",
                )
            )
    finally:
        torch.set_default_dtype(previous)
    return (
        DreamLM(dllm.eval(), dtok, stop_tokens=["<|im_end|>"]),
        SequenceClassifierReward(reward.eval(), rtok),
        dwords,
    )


def non_embedding_params(model: torch.nn.Module) -> int:
    skip = {id(model.get_input_embeddings().weight)}
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if out is not None:
        skip.add(id(out.weight))
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_times(lm, reward, prompts, schedule, device, guided: bool) -> dict:
    """The model calls of one generate() alone, on the same shapes: T dLLM forwards, M reward
    forward+backward per step (+1 forward for the trace), timed with device syncs."""
    messages = [p.messages() for p in prompts]
    length = schedule.max_new_tokens
    enc = lm.encode(messages, length)
    canvas, attn = enc.tokens.repeat_interleave(K, 0), enc.attention_mask.repeat_interleave(K, 0)
    plan, g = schedule.commit_plan(length), length
    t_dllm = t_reward = 0.0
    ctx = reward.context(messages).repeat(K) if guided else None
    dim = reward.embedding_matrix.shape[1]
    for step in range(schedule.steps):
        positions = torch.arange(g, device=device).expand(canvas.shape[0], -1)
        sync(device)
        start = time.perf_counter()
        logits = lm.response_logits(canvas, attn, enc.prompt_len, positions)
        sync(device)
        t_dllm += time.perf_counter() - start
        del logits
        if guided:
            embeds = torch.randn(canvas.shape[0], length, dim, device=device, dtype=reward.embedding_matrix.dtype)
            mask = torch.ones(canvas.shape[0], length, dtype=torch.bool, device=device)
            sync(device)
            start = time.perf_counter()
            for _ in range(M):
                embeds.requires_grad_(True)
                with torch.enable_grad():
                    torch.autograd.grad(reward.score_embeds(ctx, embeds, mask).sum(), embeds)
                embeds = embeds.detach()
            with torch.no_grad():
                reward.score_embeds(ctx, embeds, mask)
            sync(device)
            t_reward += time.perf_counter() - start
        g -= plan[step]
    return {"dllm_s": t_dllm, "reward_s": t_reward}


def flops(lm, reward, prompts, schedule, guided: bool) -> float:
    n = len(prompts) * K
    enc = lm.encode([p.messages() for p in prompts], schedule.max_new_tokens)
    seq, length = enc.tokens.shape[1], schedule.max_new_tokens
    p_dllm, p_reward = non_embedding_params(lm.model), non_embedding_params(reward.model)
    hidden, vocab = lm.model.config.hidden_size, lm.vocab_size
    dim = reward.embedding_matrix.shape[1]
    suffix = len(reward.context([prompts[0].messages()]).suffix_ids)
    plan, g, total = schedule.commit_plan(length), length, 0.0
    for step in range(schedule.steps):
        total += 2 * p_dllm * n * seq + 2 * hidden * vocab * n * g
        if guided:
            total += M * (2 * 2 * p_reward * n * (length + suffix) + 2 * 2 * n * g * vocab * dim)
        g -= plan[step]
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (a CPU smoke test of this script)")
    ap.add_argument("--prompts", type=int, default=4, help="prompts per generate() call (per GPU)")
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=200)
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--max-batch", action="store_true", help="also find the largest batch EntRGi fits")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("gpu_paper.json"))
    args = ap.parse_args()
    device = torch.device(args.device)
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    lm, reward, vocab_words = build(device, args.tiny, dtype)
    rng = random.Random(1)
    body = args.prompt_tokens - 8  # the chat template adds about 8 tokens
    prompts = [
        PromptItem(f"p{i}", " ".join(rng.choice(vocab_words[:50000]) for _ in range(body))) for i in range(args.prompts)
    ]
    schedule = DenoisingSchedule(steps=args.steps, max_new_tokens=128, temperature=0.7, top_p=0.95)
    warm = DenoisingSchedule(steps=2, max_new_tokens=128, temperature=0.7, top_p=0.95)
    rows = {}
    for name in args.methods:
        guidance = METHODS[name]()
        GuidedDenoiser(lm, reward, guidance, warm, samples_per_prompt=K, seed=1).generate(prompts)  # warm-up
        den = GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=K, seed=1)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        sync(device)
        start = time.perf_counter()
        den.generate(prompts)
        sync(device)
        wall = time.perf_counter() - start
        peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
        parts = model_times(lm, reward, prompts, schedule, device, guidance.requires_reward)
        f = flops(lm, reward, prompts, schedule, guidance.requires_reward)
        rows[name] = {
            "s_per_prompt": round(wall / len(prompts), 3),
            "generate_s": round(wall, 3),
            "peak_gpu_memory_bytes": peak,
            "dllm_forward_s": round(parts["dllm_s"], 3),
            "reward_fwd_bwd_s": round(parts["reward_s"], 3),
            "vocab_math_sampling_commit_s": round(wall - parts["dllm_s"] - parts["reward_s"], 3),
            "tflop": round(f / 1e12, 1),
            "mfu": round(f / wall / PEAK_BF16, 3),
            "paper_table_gpu_hours": round(3 * 3 * 64 * wall / len(prompts) / 3600, 2),
        }
        print(name, rows[name], flush=True)
    result = {
        "command": shlex.join(["python", "bench/speed/gpu_paper.py", *sys.argv[1:]]),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "setting": {
            "K": K,
            "T": args.steps,
            "M": M,
            "new_tokens": 128,
            "prompt_tokens": args.prompt_tokens,
            "prompts_per_call": args.prompts,
            "dtype": str(dtype),
            "tiny": args.tiny,
            "dllm": "Qwen2ForCausalLM at Dream-7B shapes via DreamLM",
            "reward": "Qwen3ForSequenceClassification at Qwen3-1.7B shapes",
            "peak_flops": PEAK_BF16,
            "flops": "2 P n per forward (+ head 2 H V G N); reward backward = one forward; "
            "soft matmul fwd+bwd 4 N G V D per inner step",
        },
        "machine": {"torch": torch.__version__, "python": platform.python_version()},
        "results": rows,
    }
    if args.max_batch:
        fits = None
        for batch in (4, 8, 16, 32, 64):
            try:
                batch_prompts = (prompts * batch)[:batch]
                batch_prompts = [PromptItem(f"b{i}", p.prompt) for i, p in enumerate(batch_prompts)]
                GuidedDenoiser(lm, reward, METHODS["entrgi"](), warm, samples_per_prompt=K, seed=1).generate(
                    batch_prompts
                )
                fits = batch
            except torch.OutOfMemoryError:
                break
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        result["max_prompts_per_gpu_entrgi"] = fits
        print("largest batch that fits (EntRGi, prompts per GPU):", fits)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    table = [
        "| method | s / prompt | peak GPU GiB | dLLM s | reward s | rest s | MFU | paper table GPU-h |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        peak = f"{r['peak_gpu_memory_bytes'] / 2**30:.1f}" if r["peak_gpu_memory_bytes"] else "-"
        table.append(
            f"| {name} | {r['s_per_prompt']:.2f} | {peak} | {r['dllm_forward_s']:.1f} | "
            f"{r['reward_fwd_bwd_s']:.1f} | {r['vocab_math_sampling_commit_s']:.1f} | {r['mfu']:.2f} | "
            f"{r['paper_table_gpu_hours']:.2f} |"
        )
    args.out.with_suffix(".md").write_text(f"`{result['command']}` on {result['device']}\n\n" + "\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
