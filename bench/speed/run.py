"""Speed of guided denoising vs BoN on CPU at a fixed, synthetic model size.

Random-weight models in the real formats (the project's bidirectional dLLM, hidden 256, 4 layers;
a Qwen3ForSequenceClassification reward, hidden 256, 4 layers; word-level tokenizers with a
16k vocabulary, the reward one in another order), K=4, T=32, M=3, 32 new tokens, fp32 — the
size at which the paper's script was timed on these machines (../shared/NOTES.md: about 12 s per
prompt for EntRGi, 2.6 s for BoN, with Dream's model code). Measures seconds per prompt inside
``GuidedDenoiser.generate`` (models loaded, one warm-up call first) for BoN, Expectation and EntRGi.

    python bench/speed/run.py                                   # -> bench/speed/results.json
    python bench/speed/run.py --all-positions --out /tmp/all.json   # vocabulary work on every position
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForSequenceClassification

from entrgi.denoiser import GuidedDenoiser
from entrgi.guidance import GradientGuidance, NoGuidance
from entrgi.models import BidirectionalLM, SequenceClassifierReward
from entrgi.schedule import DenoisingSchedule
from entrgi.testbed.modeling_tiny_dllm import TinyDLMConfig, TinyDLMForMaskedDiffusion
from entrgi.types import PromptItem

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|mask|>", "<unk>"]


def tokenizer(words: list[str], mask: bool) -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(SPECIALS + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                   unk_token="<unk>", mask_token="<|mask|>" if mask else None,
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=CHATML)


def build(root: Path, vocab: int, hidden: int, layers: int) -> tuple[BidirectionalLM, SequenceClassifierReward]:
    words = [f"w{i}" for i in range(vocab - len(SPECIALS) - 3)] + ["user", "assistant", "system"]
    dtok = tokenizer(words, mask=True)
    shuffled = words[:]
    random.Random(0).shuffle(shuffled)
    rtok = tokenizer(shuffled, mask=False)
    torch.manual_seed(0)
    TinyDLMForMaskedDiffusion(TinyDLMConfig(vocab_size=len(dtok), hidden_size=hidden, num_hidden_layers=layers,
                                            num_attention_heads=4, intermediate_size=4 * hidden,
                                            max_position_embeddings=256)).save_pretrained(root / "dllm")
    dtok.save_pretrained(root / "dllm")
    Qwen3ForSequenceClassification(Qwen3Config(
        vocab_size=len(rtok), hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, head_dim=hidden // 4, num_labels=1,
        pad_token_id=rtok.pad_token_id, tie_word_embeddings=False)).save_pretrained(root / "reward")
    rtok.save_pretrained(root / "reward")
    return (BidirectionalLM.from_pretrained(str(root / "dllm"), dtype="float32", device="cpu"),
            SequenceClassifierReward.from_pretrained(str(root / "reward"), dtype="float32", device="cpu"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4, help="prompts per generate() call")
    ap.add_argument("--vocab", type=int, default=16384)
    ap.add_argument("--all-positions", action="store_true",
                    help="GuidedDenoiser(masked_only=False): top-p / guidance / sampling on all L positions")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("results.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lm, reward = build(Path(tmp), args.vocab, hidden=256, layers=4)
        rng = random.Random(1)
        prompts = [PromptItem(f"p{i}", " ".join(f"w{rng.randrange(2000)}" for _ in range(rng.randint(8, 24))))
                   for i in range(args.prompts)]
        schedule = DenoisingSchedule(steps=32, max_new_tokens=32, temperature=0.7, top_p=0.95)
        rows = {}
        for name, guidance in [("bon", NoGuidance()), ("expectation", GradientGuidance(weight="zero")),
                               ("entrgi", GradientGuidance(weight="entropy"))]:
            den = GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=4, seed=1,
                                 masked_only=not args.all_positions)
            den.generate(prompts[:1])  # warm-up
            start = time.perf_counter()
            for i in range(0, len(prompts), args.batch):
                den.generate(prompts[i:i + args.batch])
            wall = time.perf_counter() - start
            rows[name] = {"s_per_prompt": round(wall / len(prompts), 3)}
            print(name, rows[name], flush=True)
    for name in rows:
        rows[name]["x_bon"] = round(rows[name]["s_per_prompt"] / rows["bon"]["s_per_prompt"], 2)
    result = {"command": shlex.join(["python", "bench/speed/run.py", *sys.argv[1:]]), "setting": {
        "K": 4, "T": 32, "M": 3, "new_tokens": 32, "vocab": args.vocab, "hidden": 256, "layers": 4,
        "prompts": args.prompts, "prompts_per_batch": args.batch, "dtype": "float32",
        "masked_only": not args.all_positions},
        "machine": {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "python": platform.python_version()}, "results": rows}
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
