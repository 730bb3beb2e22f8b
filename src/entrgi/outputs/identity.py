"""What a run is: the method and its hyper-parameters, sampling, data, models, judge and seed.

Copied into ``metrics.json`` (``run``) and every record, so a number is never separated from
what produced it. Built from the resolved config (a plain dict).
"""

from __future__ import annotations

import hashlib
from typing import Any

from entrgi.judges.lmunit import DEFAULT_UNIT_TESTS

_GUIDANCE_KEYS = ("weight", "inner_steps", "lr", "normalization", "every", "until", "min_entropy")  # first, in order
_NOT_IDENTITY = ("_target_", "track_final_reward")  # the method names the class; the other shapes only the trace
_SCHEDULE_KEYS = {
    "steps": "steps",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "alg": "alg",
    "max_new_tokens": "max_new_tokens",
}
# Keys where entrgi departs from the authors' scripts on purpose (docs/FIDELITY.md): recorded only off
# their defaults, so a default run's identity is what it always was and +experiment=paper_exact shows
FIDELITY_DEFAULTS: dict[str, Any] = {
    "model.stop_tokens": [],  # stops besides eos / pad
    "schedule.filter_order": "top_k_first",
    "schedule.entropy_filter": "none",
    "reward.position_ids": "contiguous",
    "reward.vocab_fallback": "encode",
}


def target_class(target: str) -> str:
    """A ``_target_`` path by its class name: ``a.b.Reward.from_pretrained`` -> ``Reward``."""
    return target.rsplit(".", 2)[-2 if target.endswith(".from_pretrained") else -1]


def _short_target(node: dict | None) -> str | None:
    target = (node or {}).get("_target_")
    return None if target is None else target_class(target)


def _model_name(node: dict | None, default: str) -> str | None:
    """A model's hub id or local path; ``default`` for a config without one (the shipped testbed)."""
    if not node:
        return None
    return node.get("path") or default


def dataset_name(data: dict) -> str:
    """``testbed``, a hub id (``allenai/reward-bench-2``, with its config name) or a local file path,
    from the ``data`` node's ``source`` (the prompt source's arguments)."""
    source = data.get("source") or {}
    target = source.get("_target_", "")
    if target.endswith("TestbedPromptSource"):
        return "testbed"
    name = str(source.get("path") or target.rsplit(".", 1)[-1])
    return f"{name}:{source['name']}" if source.get("name") else name


def judge_identity(judge: dict | None) -> str:
    """The identity's ``judge``: ``none``, ``oracle``, or the judge class with its checkpoint
    (``LMUnitJudge:ContextualAI/...``) and, for unit tests other than the paper's, ``+unit_tests:<hash>``; the
    records' ``judge_name`` is the judge's block key (its short ``name``, judges/apply.block_key) instead."""
    target = _short_target(judge)
    if target is None:
        return "none"
    if target in ("OracleJudge", "TestbedJudge"):
        return "oracle"
    out = f"{target}:{judge['path']}" if judge.get("path") else target
    tests = judge.get("unit_tests")
    if tests is not None and tuple(tests) != DEFAULT_UNIT_TESTS:  # other unit tests: another judgement
        out += "+unit_tests:" + hashlib.sha1("\n".join(map(str, tests)).encode()).hexdigest()[:8]
    return out


def particles_identity(particles: dict | None) -> dict[str, Any]:
    """``{"particles": "FKSteering", "particles.lam": ...}`` for a particle run; nothing for
    ``particles=none`` (so default runs keep the identity they had before particles existed)."""
    target = _short_target(particles)
    if target is None or target == "NoParticles":
        return {}
    knobs = {f"particles.{k}": v for k, v in sorted(particles.items()) if k != "_target_"}
    return {"particles": target} | knobs


def run_identity(cfg: dict[str, Any], method: str) -> dict[str, Any]:
    """The run's identity from its resolved config; ``method`` is the guidance's name."""
    guidance = cfg.get("guidance") or {}
    schedule = cfg.get("schedule") or {}
    out: dict[str, Any] = {"method": method}
    out.update({key: guidance[key] for key in _GUIDANCE_KEYS if key in guidance})
    # any other hyper-parameter, so a new method's knobs are part of its identity with no change here
    out.update({k: v for k, v in sorted(guidance.items()) if k not in _GUIDANCE_KEYS and k not in _NOT_IDENTITY})
    out["samples_per_prompt"] = cfg.get("samples_per_prompt")
    out.update({name: schedule[key] for key, name in _SCHEDULE_KEYS.items() if key in schedule})
    for dotted, default in FIDELITY_DEFAULTS.items():
        group, key = dotted.split(".")
        value = (cfg.get(group) or {}).get(key, default)
        if value != default:  # a list (the stop tokens) as one string: identities are compared as values
            out[key] = " ".join(value) if isinstance(value, list) else value
    out.update(particles_identity(cfg.get("particles")))
    out["dataset"] = dataset_name(cfg.get("data") or {})
    out["dllm"] = _model_name(cfg.get("model"), "testbed")
    for key in ("adapter", "quantization"):  # a post-trained LoRA adapter, 4-bit weights: another model
        if (cfg.get("model") or {}).get(key):
            out[key] = str(cfg["model"][key])
    out["reward"] = _model_name(cfg.get("reward"), "testbed")
    out["judge"] = judge_identity(cfg.get("judge"))
    out["seed"] = cfg.get("seed")
    return out
