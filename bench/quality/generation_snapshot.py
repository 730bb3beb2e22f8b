"""Snapshot the testbed's generations in 9 configurations (2 with particles), and compare two snapshots token for token.

Used to check that a change leaves generations bit-identical: run it on two revisions, compare.
``--legacy-entropy`` ranks ``alg=entropy`` positions by the top-p-filtered entropy, the definition
before the fidelity fix, so revisions on either side of it can be compared too.

    python bench/quality/generation_snapshot.py /tmp/new.pt
    git worktree add /tmp/old 27335c7 && PYTHONPATH=/tmp/old/src python bench/quality/generation_snapshot.py /tmp/old.pt
    python bench/quality/generation_snapshot.py --compare /tmp/old.pt /tmp/new.pt
"""

import argparse

import torch

from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import GradientGuidance, NoGuidance
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.engine.types import PromptItem
from entrgi.testbed import load_dllm, load_reward

TEXTS = ["tell me about the sea", "what do you think of music", "describe a happy dog", "the city at night"]
CASES = [
    ("bon", NoGuidance, {}, {}),
    ("entrgi", GradientGuidance, {"weight": "entropy"}, {}),
    ("aps_maskgit", GradientGuidance, {"weight": "one"}, {"alg": "maskgit_plus"}),
    ("expectation_margin", GradientGuidance, {"weight": "zero"}, {"alg": "topk_margin", "alg_temp": 0.3}),
    (
        "entrgi_support_anchor",
        GradientGuidance,
        {"weight": "entropy", "normalization": "log_support"},
        {"alg": "anchor"},
    ),
    ("bon_maskgit_topk", NoGuidance, {}, {"alg": "maskgit_plus", "top_k": 20}),
    ("entrgi_origin", GradientGuidance, {"weight": "entropy", "inner_steps": 2}, {"alg": "origin"}),
]
# particles (FK steering) with a guidance: name, guidance class, its kwargs, FKSteering's kwargs
PARTICLE_CASES = [
    ("bon_fk_max", NoGuidance, {}, {"every": 3, "potential": "max", "lam": 5.0}),
    ("entrgi_fk_diff_multinomial", GradientGuidance, {"weight": "entropy"}, {"every": 4, "resample": "multinomial"}),
]


def use_legacy_entropy() -> None:
    from entrgi.engine.schedule import confidence
    from entrgi.engine.schedule.sampling import TokenSampler

    def filtered(logits, temperature):
        logp = TokenSampler(temperature, top_p=0.95).log_probs(logits)
        return (logp.exp() * logp.clamp_min(torch.finfo(torch.float32).min)).sum(-1)

    if hasattr(confidence, "PRE_GUIDANCE"):  # revisions before the confidence rules were classes
        confidence.PRE_GUIDANCE["entropy"] = filtered
    else:
        confidence.EntropyRule.pre_guidance = lambda self, logits, temperature: filtered(logits, temperature)


def snapshot(path: str) -> None:
    lm, reward = load_dllm(), load_reward()
    prompts = [PromptItem(f"q{i}", text) for i, text in enumerate(TEXTS)]
    out = {}
    for name, cls, kwargs, sched in CASES:
        schedule = DenoisingSchedule(steps=12, max_new_tokens=24, temperature=0.7, top_p=0.95, **sched)
        gen = GuidedDenoiser(lm, reward, cls(**kwargs), schedule, samples_per_prompt=3, seed=2).generate(prompts)
        out[name] = {"tokens": gen.tokens, "rewards": gen.rewards, "trace": gen.trace, "entropy_map": gen.entropy_map}
    from entrgi.engine.particles import FKSteering

    for name, cls, kwargs, fk in PARTICLE_CASES:
        schedule = DenoisingSchedule(steps=12, max_new_tokens=24, temperature=0.7, top_p=0.95)
        denoiser = GuidedDenoiser(
            lm, reward, cls(**kwargs), schedule, samples_per_prompt=3, seed=2, particles=FKSteering(**fk)
        )
        gen = denoiser.generate(prompts)
        out[name] = {"tokens": gen.tokens, "rewards": gen.rewards, "trace": gen.trace, "entropy_map": gen.entropy_map}
    torch.save(out, path)


def compare(a_path: str, b_path: str) -> None:
    a, b = torch.load(a_path), torch.load(b_path)
    for name in a:
        x, y = a[name], b[name]
        same = torch.equal(x["tokens"], y["tokens"]) and torch.equal(x["rewards"], y["rewards"])
        shared = [k for k in x["trace"] if k in y["trace"]]  # trace keys are open: a method reports its own
        trace = max((x["trace"][k] - y["trace"][k]).abs().nan_to_num().max().item() for k in shared)
        one_side = sorted(k for k in x["trace"].keys() ^ y["trace"].keys() if not _all_nan(x, y, k))
        emap = (x["entropy_map"] - y["entropy_map"]).abs().nan_to_num().max().item()
        extra = f", trace keys with values on one side only: {one_side}" if one_side else ""
        print(
            f"{name}: tokens and rewards {'identical' if same else 'DIFFER'}, max trace diff {trace:.1e}, "
            f"max entropy-map diff {emap:.1e}{extra}"
        )


def _all_nan(x: dict, y: dict, key: str) -> bool:
    return bool(torch.isnan((x["trace"] if key in x["trace"] else y["trace"])[key]).all())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--legacy-entropy", action="store_true")
    args = ap.parse_args()
    if args.compare:
        compare(*args.paths)
        return
    if args.legacy_entropy:
        use_legacy_entropy()
    snapshot(args.paths[0])


if __name__ == "__main__":
    main()
