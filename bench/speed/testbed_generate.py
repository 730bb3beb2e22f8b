"""Generation time on the embedded testbed (V = 261 words): BoN and EntRGi, 16 prompts x K=4, T=48.

Seconds inside one ``GuidedDenoiser.generate`` call after a warm-up call. To compare with another
revision, run the same file against that revision's source:

    python bench/speed/testbed_generate.py
    git worktree add /tmp/old <commit> && PYTHONPATH=/tmp/old/src python bench/speed/testbed_generate.py
"""

import time

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, NoGuidance
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.types import PromptItem
from entrgi.testbed import load_dllm, load_reward

TEXTS = ["tell me about the sea", "what do you think of music", "describe a happy dog", "the city at night"]


def main() -> None:
    lm, reward = load_dllm(), load_reward()
    prompts = [PromptItem(f"q{i}", text) for i, text in enumerate(TEXTS * 4)]
    schedule = DenoisingSchedule(steps=48, max_new_tokens=48, temperature=0.7, top_p=0.95)
    for name, guidance in [("bon", NoGuidance()), ("entrgi", GradientGuidance(weight="entropy"))]:
        den = GuidedDenoiser(lm, reward, guidance, schedule, samples_per_prompt=4, seed=1)
        den.generate(prompts[:2])
        start = time.perf_counter()
        den.generate(prompts)
        print(f"{name}: {time.perf_counter() - start:.2f} s for {len(prompts)} prompts", flush=True)


if __name__ == "__main__":
    main()
