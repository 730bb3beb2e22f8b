"""Vocabulary-sized memory stays at its floor: phi + Adam's m and v, plus chunk-sized temporaries.

A child process loads tiny models with a moderate vocabulary (V = 32k), so one [N, G, V] fp32
tensor is 134 MB, large beside allocator noise; its peak resident memory during ``generate``
must stay below 3 such tensors + the chunk working set + a fixed slack. One more full-size
temporary anywhere in the loop (a second copy of the logits, an autograd graph over the
vocabulary, a full-vocabulary sort) breaks the bound.
"""

import json
import subprocess
import sys
import textwrap

import pytest
import tiny_models

VOCAB, K, PROMPTS, LENGTH = 32768, 4, 4, 64
CHUNK = 2**21  # 2 MiB per chunk temporary
SLACK = 48 * 2**20

CHILD = textwrap.dedent("""
    import json, sys, torch
    from entrgi.engine.denoiser import GuidedDenoiser
    from entrgi.engine.guidance import GradientGuidance, NoGuidance
    from entrgi.engine.models import BidirectionalLM, SequenceClassifierReward
    from entrgi.engine.schedule import DenoisingSchedule
    from entrgi.engine.types import PromptItem

    root, method, k, prompts, length, chunk = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
    torch.set_num_threads(1)
    lm = BidirectionalLM.from_pretrained(root + "/dllm", dtype="float32", device="cpu", trust_remote_code=True)
    reward = SequenceClassifierReward.from_pretrained(root + "/reward", dtype="float32", device="cpu")
    guidance = NoGuidance() if method == "bon" else GradientGuidance(weight="entropy", inner_steps=2)
    schedule = DenoisingSchedule(steps=2, max_new_tokens=length, temperature=0.7, top_p=0.95)
    den = GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=k, seed=0, max_chunk_bytes=chunk)
    items = [PromptItem(f"p{i}", "w1 w2 w3") for i in range(prompts)]
    den.generate(items[:1])  # warm-up: allocator pools and lazy inits
    def status(key):
        return int(next(l for l in open("/proc/self/status") if l.startswith(key)).split()[1]) * 1024
    with open("/proc/self/clear_refs", "w") as f:  # Linux: reset the peak (VmHWM) to the current RSS
        f.write("5")
    base = status("VmRSS")
    den.generate(items)
    print(json.dumps({"base": base, "peak": status("VmHWM")}))
""")


@pytest.fixture(scope="module")
def big_vocab_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("bigvocab")
    words = [f"w{i}" for i in range(VOCAB - 5)]
    tiny_models.save_dllm(root / "dllm", tiny_models.word_tokenizer(words, mask=True))
    tiny_models.save_reward(root / "reward", tiny_models.word_tokenizer(words[::-1], mask=False))
    return root


@pytest.mark.parametrize("method, full_size", [("entrgi", 3), ("bon", 1)])
def test_peak_memory_stays_at_the_floor(big_vocab_models, method, full_size):
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(big_vocab_models), method, str(K), str(PROMPTS), str(LENGTH), str(CHUNK)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    m = json.loads(out.stdout.strip().splitlines()[-1])
    tensor = K * PROMPTS * LENGTH * VOCAB * 4  # one [N, G, V] fp32 tensor at step 0 (134 MB)
    bound = full_size * tensor + 12 * CHUNK + SLACK
    grown = m["peak"] - m["base"]
    assert m["peak"] > m["base"] + full_size * tensor * 0.9, "the run's own peak was not measured"
    assert grown <= bound, (
        f"{method}: peak grew by {grown / 2**20:.0f} MiB > bound {bound / 2**20:.0f} MiB "
        f"({full_size} x {tensor / 2**20:.0f} MiB + chunks + slack)"
    )
