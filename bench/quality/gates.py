"""The testbed issue's gates, measured on the shipped weights (the numbers in README "The embedded testbed").

- dLLM: unguided samples (BoN's generations, K=4) at the testbed schedule, grammatical and on
  topic by the oracle, over ``--prompts`` prompts x ``--seeds`` (``data=testbed`` prompt draws,
  sample ids as the run gives them); and grammaticality at other step counts T.
- reward: pairwise accuracy on held-out pairs of the training distribution (``ranked_groups``
  at a seed the model never saw), on held-out pairs of two natural responses (by oracle margin),
  and per corruption kind of ``ResponsePerturber``.

    python bench/quality/gates.py          # writes gates.json and gates.md next to this file
"""

from __future__ import annotations

import argparse
import json
import random
from importlib.resources import files
from pathlib import Path

from omegaconf import OmegaConf

from entrgi.data import TestbedPromptSource
from entrgi.engine.denoiser import GuidedDenoiser
from entrgi.engine.guidance import NoGuidance
from entrgi.engine.schedule import DenoisingSchedule
from entrgi.testbed import load_dllm, load_reward, oracle
from entrgi.testbed.judge import TestbedJudge
from entrgi.testbed.language import default_grammar, sample_prompts
from entrgi.testbed.training.perturb import ResponsePerturber
from entrgi.testbed.training.reward import TIE, natural_pairs, ordered_pairs, pairwise_accuracy, ranked_groups

HELD_OUT_SEED = 4321  # the reward model trained on seed 0 (validation: seed + 1_000_003)
MARGIN_BINS = ((0.0, 0.02), (0.02, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 1.0))


def testbed_schedule(**overrides) -> DenoisingSchedule:
    cfg = OmegaConf.to_container(OmegaConf.load(files("entrgi.conf") / "schedule" / "testbed.yaml"))
    cfg.pop("_target_")
    return DenoisingSchedule(**(cfg | overrides))


def unguided(lm, reward, prompts: int, seeds: list[int], steps: int | None = None) -> dict:
    judge, verdicts = TestbedJudge(), []
    schedule = testbed_schedule(**({"steps": steps} if steps else {}))
    for seed in seeds:
        items = TestbedPromptSource(limit=prompts, seed=seed).load().items
        out = GuidedDenoiser(lm, reward, NoGuidance(), schedule, samples_per_prompt=4, seed=seed).generate(items)
        pairs = zip(out.items, out.responses, strict=True)
        verdicts += [judge(item.prompt, r) for item, responses in pairs for r in responses]
    return {
        "steps": schedule.steps,
        "samples": len(verdicts),
        "grammatical": sum(v["grammatical"] for v in verdicts) / len(verdicts),
        "on_topic": sum(v["on_topic"] >= oracle.ON_TOPIC_THRESHOLD for v in verdicts) / len(verdicts),
    }


def reward_gates(reward, groups: int, pairs: int, per_kind: int) -> dict:
    held_out = pairwise_accuracy(reward, ordered_pairs(ranked_groups(groups, HELD_OUT_SEED)))

    triples = natural_pairs(pairs, HELD_OUT_SEED)
    natural = pairwise_accuracy(reward, triples)
    margins = [oracle.score(p, c).total - oracle.score(p, r).total for p, c, r in triples]
    by_margin = {}
    for lo, hi in MARGIN_BINS:
        hits = [ok for ok, m in zip(natural, margins, strict=True) if lo < m <= hi]
        by_margin[f"({lo}, {hi}]"] = {"pairs": len(hits), "accuracy": sum(hits) / max(len(hits), 1)}

    grammar, perturb, rng = default_grammar(), ResponsePerturber(), random.Random(HELD_OUT_SEED)
    kinds = {}
    for kind in ResponsePerturber.KINDS:
        rows = []
        for p in sample_prompts(per_kind, HELD_OUT_SEED + 1):
            nat = grammar.sample_response(p, rng)
            bad = perturb.corrupt(kind, p, nat, rng)
            t_nat, t_bad = oracle.score(p, nat).total, oracle.score(p, bad).total
            if abs(t_nat - t_bad) > TIE:
                rows.append((p, nat, bad) if t_nat > t_bad else (p, bad, nat))
        hits = pairwise_accuracy(reward, rows) if rows else []
        kinds[kind] = {"pairs": len(hits), "accuracy": sum(hits) / max(len(hits), 1)}
    return {
        "held_out_pairs": {"pairs": len(held_out), "accuracy": sum(held_out) / len(held_out)},
        "natural_pairs": {"pairs": len(natural), "accuracy": sum(natural) / len(natural), "by_margin": by_margin},
        "by_corruption_kind": kinds,
    }


def markdown(r: dict) -> str:
    u, rw = r["dllm"]["default_schedule"], r["reward"]
    lines = [
        f"Parameters: dLLM {r['params']['dllm']:,}, reward {r['params']['reward']:,}.",
        f"dLLM, unguided at T={u['steps']}: {u['grammatical']:.1%} grammatical, {u['on_topic']:.1%} on topic "
        f"({u['samples']} samples; gates 90% / 80%).",
    ]
    lines += [
        f"dLLM, unguided at T={x['steps']}: {x['grammatical']:.1%} grammatical ({x['samples']} samples)."
        for x in r["dllm"]["other_steps"]
    ]
    lines.append(
        f"Reward, held-out pairs of the training distribution: {rw['held_out_pairs']['accuracy']:.1%} "
        f"({rw['held_out_pairs']['pairs']} pairs; gate 85%)."
    )
    lines.append(
        f"Reward, held-out natural pairs: {rw['natural_pairs']['accuracy']:.1%} ({rw['natural_pairs']['pairs']} "
        "pairs); by oracle margin: "
        + ", ".join(f"{k} {v['accuracy']:.0%} (n={v['pairs']})" for k, v in rw["natural_pairs"]["by_margin"].items())
        + "."
    )
    lines.append(
        "Reward, per corruption kind: "
        + ", ".join(f"{k} {v['accuracy']:.0%}" for k, v in rw["by_corruption_kind"].items())
        + "."
    )
    return "\n".join(f"- {line}" for line in lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--other-steps", type=int, nargs="*", default=[24, 32])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--per-kind", type=int, default=150)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()

    lm, reward = load_dllm(), load_reward()
    results = {
        "command": "python bench/quality/gates.py",
        "params": {
            "dllm": sum(p.numel() for p in lm.model.parameters()),
            "reward": sum(p.numel() for p in reward.model.parameters()),
        },
        "dllm": {
            "default_schedule": unguided(lm, reward, args.prompts, args.seeds),
            "other_steps": [unguided(lm, reward, args.prompts, args.seeds[:1], t) for t in args.other_steps],
        },
        "reward": reward_gates(reward, args.groups, args.pairs, args.per_kind),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gates.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "gates.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
