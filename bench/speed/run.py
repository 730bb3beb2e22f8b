"""Speed of guided denoising vs BoN on CPU at a fixed, synthetic model size, and against a floor.

Random-weight models in the real formats (the project's bidirectional dLLM, hidden 256, 4 layers;
a Qwen3ForSequenceClassification reward, hidden 256, 4 layers; word-level tokenizers with a
16k vocabulary, the reward one in another order), K=4, T=32, M=3, 32 new tokens, fp32 — the
size at which the paper's script was timed on these machines (../shared/NOTES.md: about 12 s per
prompt for EntRGi, 2.6 s for BoN, with Dream's model code). Measures seconds per prompt inside
``GuidedDenoiser.generate`` (models loaded, one warm-up call first) for BoN (``NoGuidance``),
Expectation (``GradientGuidance(weight="zero")``), APS (``weight="one"``) and EntRGi
(``weight="entropy"``), each also as a multiple of BoN (``x_bon``) and of its floor (``x_floor``).

The FLOOR is the unavoidable work of one ``generate()`` call and nothing else, timed by this script
on the same prompts, batches and shapes as the methods (one warm-up call first):

- ``floor_bon``: ``lm.encode`` and the T dLLM forwards ``lm.response_logits`` on the canvas
  [N = B*K, P+L] (the prompts repeated K times); nothing else (no top-p, sampling, commits, or the
  final scoring of the decoded texts). When ``response_logits`` takes ``positions`` (the output
  head applied at those response positions only), the floor passes the step's G positions (below),
  else it takes the [N, L, V] logits (JSON ``setting.floor_head_positions``).
- ``floor_guided``: ``floor_bon`` plus the reward's prompt-prefix KV cache
  (``reward.context(messages).repeat(K)``, once per call), and at each denoising step s, with
  G = L - sum(plan[:s]) still-masked positions (``plan = schedule.commit_plan(L)``, as the engine
  gathers them): phi [N, G, V] = the step's logits at G positions copied into one contiguous fp32
  buffer (the head's output itself when it ran at G positions), Adam state m, v = zeros [N, G, V];
  then M times: the soft-embedding matmul
  phi [N, G, V] @ E [V, D] (E = the vocabulary bridge; phi stands in for the probabilities, no
  softmax), the reward forward + backward w.r.t. the response embeddings [N, L, D] (the G soft rows
  followed by E[token] rows, ``reward.score_embeds`` with the prefix cache and an all-True response
  mask, ``autograd.grad`` of the summed score), the matmul's backward grad_e [N, G, D] @ E.T ->
  [N, G, V], and one in-place Adam update of phi (PyTorch's defaults, lr 0.5). No top-p, no
  entropy, no sampling, no hard embeddings. The floor uses the masked-position G also under
  ``--all-positions`` (it is a floor).

    python bench/speed/run.py                                   # -> bench/speed/results.json
    python bench/speed/run.py --all-positions --out /tmp/all.json   # vocabulary work on every position
    python bench/speed/run.py --vocab 2048 --prompts 1 --batch 1 --out /tmp/smoke.json   # smoke test

Prints a markdown table row per method (and per floor) to stdout.
"""

from __future__ import annotations

import argparse
import inspect
import json
import platform
import random
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForSequenceClassification

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, NoGuidance
from entrgi.engine.models import BidirectionalLM, SequenceClassifierReward, build_vocab_bridge
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.types import PromptItem
from entrgi.testbed.modeling_tiny_dllm import TinyDLMConfig, TinyDLMForMaskedDiffusion

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>", "<unk>"]
METHODS = {
    "bon": lambda: NoGuidance(),
    "expectation": lambda: GradientGuidance(weight="zero"),
    "aps": lambda: GradientGuidance(weight="one"),
    "entrgi": lambda: GradientGuidance(weight="entropy"),
    # the trace's optional extra reward forward per step (guidance.track_final_reward) turned off
    "entrgi_no_final_reward": lambda: GradientGuidance(weight="entropy", track_final_reward=False),
}
LABELS = {
    "bon": "BoN",
    "expectation": "Expectation",
    "aps": "APS",
    "entrgi": "EntRGi",
    "entrgi_no_final_reward": "EntRGi, track_final_reward=false",
    "floor_bon": "floor (BoN)",
    "floor_guided": "floor (guided)",
}
K, T, M, NEW_TOKENS, LR = 4, 32, 3, 32, 0.5


def tokenizer(words: list[str], mask: bool) -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(SPECIALS + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        mask_token="<|mask|>" if mask else None,
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        chat_template=CHATML,
    )


def save_models(root: Path, vocab: int, hidden: int, layers: int, max_positions: int = 256) -> None:
    """Random-weight dLLM and reward (``vocab`` ids each, the reward's in another order) under root/{dllm,reward}."""
    words = [f"w{i}" for i in range(vocab - len(SPECIALS) - 3)] + ["user", "assistant", "system"]
    dtok = tokenizer(words, mask=True)
    shuffled = words[:]
    random.Random(0).shuffle(shuffled)
    rtok = tokenizer(shuffled, mask=False)
    torch.manual_seed(0)
    TinyDLMForMaskedDiffusion(
        TinyDLMConfig(
            vocab_size=len(dtok),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=4,
            intermediate_size=4 * hidden,
            max_position_embeddings=max_positions,
        )
    ).save_pretrained(root / "dllm")
    dtok.save_pretrained(root / "dllm")
    Qwen3ForSequenceClassification(
        Qwen3Config(
            vocab_size=len(rtok),
            hidden_size=hidden,
            intermediate_size=4 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=hidden // 4,
            num_labels=1,
            pad_token_id=rtok.pad_token_id,
            tie_word_embeddings=False,
        )
    ).save_pretrained(root / "reward")
    rtok.save_pretrained(root / "reward")


def load_models(root: Path) -> tuple[BidirectionalLM, SequenceClassifierReward]:
    return (
        BidirectionalLM.from_pretrained(str(root / "dllm"), dtype="float32", device="cpu", trust_remote_code=True),
        SequenceClassifierReward.from_pretrained(str(root / "reward"), dtype="float32", device="cpu"),
    )


def build(root: Path, vocab: int, hidden: int, layers: int) -> tuple[BidirectionalLM, SequenceClassifierReward]:
    save_models(root, vocab, hidden, layers)
    return load_models(root)


def make_prompts(n: int) -> list[PromptItem]:
    rng = random.Random(1)
    return [
        PromptItem(f"p{i}", " ".join(f"w{rng.randrange(2000)}" for _ in range(rng.randint(8, 24)))) for i in range(n)
    ]


def _adam_step(
    phi: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    grad: torch.Tensor,
    t: int,
    lr: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> None:
    """One Adam update (PyTorch's defaults, step t >= 1), elementwise and in place."""
    m.mul_(b1).add_(grad, alpha=1 - b1)
    v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
    denom = v.div(1 - b2**t).sqrt_().add_(eps)
    phi.addcdiv_(m, denom, value=-lr / (1 - b1**t))


def head_at_positions(lm: BidirectionalLM) -> bool:
    """Whether ``lm.response_logits`` takes ``positions`` (the engine's API is changing)."""
    return "positions" in inspect.signature(lm.response_logits).parameters


@torch.no_grad()
def floor_generate(
    lm: BidirectionalLM,
    reward: SequenceClassifierReward,
    bridge: torch.Tensor | None,
    items: Sequence[PromptItem],
    schedule: DenoisingSchedule,
    k: int,
    inner_steps: int,
    lr: float = LR,
) -> None:
    """The floor of one ``generate(items)`` (module docstring); guided when ``bridge`` [V, D] is given."""
    messages = [it.messages() for it in items]
    length = schedule.max_new_tokens
    enc = lm.encode(messages, length, [it.sample_id for it in items])
    p = enc.prompt_len
    canvas = enc.tokens.repeat_interleave(k, 0)  # [N, P+L]
    attn = enc.attention_mask.repeat_interleave(k, 0)
    if bridge is not None:
        ctx = reward.context(messages).repeat(k)
        response_mask = torch.ones(canvas.shape[0], length, dtype=torch.bool, device=canvas.device)
    n_masked = length
    for count in schedule.commit_plan(length):
        g = n_masked
        if head_at_positions(lm):  # the output head at G positions only: [N, G, V]
            logits = lm.response_logits(
                canvas, attn, p, positions=torch.arange(g, device=canvas.device).expand(canvas.shape[0], -1)
            )
        else:
            logits = lm.response_logits(canvas, attn, p)[:, :g]  # [N, L, V] computed, G kept
        if bridge is not None:
            phi = logits.contiguous()  # [N, G, V], stands in for the gather of the masked positions
            m, v = torch.zeros_like(phi), torch.zeros_like(phi)
            tail = F.embedding(canvas[:, p + g :], bridge)  # [N, L-G, D] committed positions
            for t in range(1, inner_steps + 1):
                e = phi @ bridge  # [N, G, D]
                embeds = torch.cat([e, tail], 1).requires_grad_(True)  # [N, L, D]
                with torch.enable_grad():
                    score = reward.score_embeds(ctx, embeds, response_mask)  # [N]
                    (grad,) = torch.autograd.grad(score.sum(), embeds)
                _adam_step(phi, m, v, grad[:, :g] @ bridge.T, t, lr)  # [N, G, D] @ [D, V]
        n_masked -= count


def timed(fn, prompts: list[PromptItem], batch: int) -> float:
    """Seconds per prompt of fn(batch of prompts) over all prompts, after one warm-up call on the first."""
    fn(prompts[:1])
    start = time.perf_counter()
    for i in range(0, len(prompts), batch):
        fn(prompts[i : i + batch])
    return (time.perf_counter() - start) / len(prompts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4, help="prompts per generate() call")
    ap.add_argument("--vocab", type=int, default=16384)
    ap.add_argument(
        "--all-positions",
        action="store_true",
        help="GuidedDenoiser(masked_only=False): top-p / guidance / sampling on all L positions",
    )
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = ap.parse_args()
    hidden, layers = 256, 4
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        lm, reward = build(Path(tmp), args.vocab, hidden=hidden, layers=layers)
        prompts = make_prompts(args.prompts)
        schedule = DenoisingSchedule(steps=T, max_new_tokens=NEW_TOKENS, temperature=0.7, top_p=0.95)
        bridge = build_vocab_bridge(
            lm.tokenizer,
            reward.tokenizer,
            reward.embedding_matrix,
            lm.vocab_size,
            min_coverage=reward.min_vocab_coverage,
        ).matrix
        for name, bridge_or_none in [("floor_bon", None), ("floor_guided", bridge)]:
            rows[name] = {
                "s_per_prompt": round(
                    timed(
                        lambda items, b=bridge_or_none: floor_generate(lm, reward, b, items, schedule, K, M),
                        prompts,
                        args.batch,
                    ),
                    3,
                )
            }
            print(name, rows[name], flush=True)
        for name, make in METHODS.items():
            den = GuidedDenoiser(
                lm, reward, make(), schedule, samples_per_prompt=K, seed=1, masked_only=not args.all_positions
            )
            rows[name] = {"s_per_prompt": round(timed(den.generate, prompts, args.batch), 3)}
            print(name, rows[name], flush=True)
    for name in METHODS:
        floor = rows["floor_bon" if name == "bon" else "floor_guided"]["s_per_prompt"]
        rows[name]["x_bon"] = round(rows[name]["s_per_prompt"] / rows["bon"]["s_per_prompt"], 2)
        rows[name]["x_floor"] = round(rows[name]["s_per_prompt"] / floor, 2)
    for name in ("floor_bon", "floor_guided"):
        rows[name]["x_bon"] = round(rows[name]["s_per_prompt"] / rows["bon"]["s_per_prompt"], 2)
    result = {
        "command": shlex.join(["python", "bench/speed/run.py", *sys.argv[1:]]),
        "setting": {
            "K": K,
            "T": T,
            "M": M,
            "lr": LR,
            "new_tokens": NEW_TOKENS,
            "vocab": args.vocab,
            "hidden": hidden,
            "layers": layers,
            "prompts": args.prompts,
            "prompts_per_batch": args.batch,
            "dtype": "float32",
            "masked_only": not args.all_positions,
            "timing": "s_per_prompt over all prompts after one warm-up call",
            "floor_bon": "lm.encode + T x lm.response_logits on the canvas [B*K, P+L]; nothing else",
            "floor_guided": (
                "floor_bon + reward.context(messages).repeat(K) once, and per step s with "
                "G = L - sum(commit_plan(L)[:s]): phi = logits[:, :G] contiguous, m = v = zeros "
                "[N, G, V], then M x (phi @ E [V, D]; reward.score_embeds forward + autograd.grad "
                "w.r.t. the [N, L, D] embeddings with the prefix KV cache; grad_e @ E.T; one "
                "in-place Adam update of phi); no top-p, entropy, sampling or hard embeddings"
            ),
            "floor_head_positions": "G (response_logits(positions=...))" if head_at_positions(lm) else "L",
            "x_floor": "bon / floor_bon; expectation, aps, entrgi / floor_guided",
        },
        "machine": {
            "cpu_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "results": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| method | s per prompt | x BoN | x floor |\n|---|---|---|---|")
    for name, row in rows.items():
        x_floor = f"{row['x_floor']:.2f}" if "x_floor" in row else "-"
        print(f"| {LABELS[name]} | {row['s_per_prompt']:.2f} | {row['x_bon']:.2f} | {x_floor} |")


if __name__ == "__main__":
    main()
