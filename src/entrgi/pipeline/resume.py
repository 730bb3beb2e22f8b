"""``resume=true``: continue a run in its output folder, refusing one whose saved config differs.

A resumed run skips the sample_ids already written (``generations.jsonl`` and the per-rank shards,
complete lines only) and appends the rest, so a run killed at any moment (SIGKILL included) and
restarted with the same command plus ``resume=true`` ends with every sample_id exactly once and the
records written before the kill unchanged byte for byte. A half-written last line of a shard is cut
off before anything is appended and its sample is redone.

What must match (:func:`generation_keys`): every key under ``model``, ``reward``, ``guidance``,
``schedule``, ``particles`` and ``data`` except ``data.limit`` (and ``data.source.limit``, which follows it) and
``data.batch_size``, plus ``seed``, ``samples_per_prompt`` and ``save_entropy_maps`` — the keys that
change a record. ``data.limit`` may differ (a bigger limit extends the run, a smaller one finishes a
prefix); judges, loggers, paths, trainer (devices, strategy), ``data.batch_size`` and
``max_chunk_bytes`` may differ too.

Folders written by earlier versions resume too: a ``_target_`` is compared by its class (and
constructor), not its module path (the engine moved to ``entrgi.engine``), and a key added since
(:data:`ADDED_DEFAULTS`) that the saved config lacks counts as its default, the behaviour it was
written with.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from entrgi.outputs.costs import recover_segment, start_ledger
from entrgi.outputs.files import GENERATIONS, RunFolder
from entrgi.outputs.generations import done_sample_ids, drop_rank_stats, repair_shards
from entrgi.outputs.identity import FIDELITY_DEFAULTS

log = logging.getLogger(__name__)

_GROUPS = ("model", "reward", "guidance", "schedule", "data", "particles")
# A group added since run folders were first written, and what its absence meant.
ADDED_GROUPS = {"particles._target_": "NoParticles"}
_TOP_LEVEL = ("seed", "samples_per_prompt", "save_entropy_maps")
# data.source.limit: ${..limit}; the layers post-training would adapt do not change generations
_MAY_DIFFER = ("data.limit", "data.source.limit", "data.batch_size", "model.lora_target_modules")
RULE = (
    "resume=true requires the saved run's model.*, reward.*, guidance.*, schedule.*, particles.*, data.* "
    "(except data.limit and data.batch_size), seed, samples_per_prompt and save_entropy_maps"
)


# Generation keys added after run folders were first written: the fidelity keys (issue 17,
# docs/FIDELITY.md), whose defaults reproduce the behaviour from before they existed.
# The model loading keys of post-training (issue 21) likewise: no adapter, full precision.
ADDED_DEFAULTS = FIDELITY_DEFAULTS | {"model.adapter": None, "model.quantization": None}


def target_key(target: Any) -> Any:
    """A ``_target_`` without its module path: ``entrgi.models.DreamLM.from_pretrained`` and
    ``entrgi.engine.models.DreamLM.from_pretrained`` -> ``DreamLM.from_pretrained``."""
    if not isinstance(target, str):
        return target
    parts = target.split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 and parts[-2][:1].isupper() else parts[-1]


def flatten_config(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and empty dicts are leaf values (compared as they are)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        out |= flatten_config(value, name) if isinstance(value, dict) and value else {name: value}
    return out


def generation_keys(config: dict[str, Any]) -> dict[str, Any]:
    """The flattened keys of a resolved config that change generations (the module docstring's rule)."""
    flat = flatten_config(config)
    for key, default in ADDED_GROUPS.items():  # a folder written before the group existed
        if not any(k.startswith(key.split(".", 1)[0] + ".") for k in flat):
            flat[key] = default
    for key, default in ADDED_DEFAULTS.items():  # a folder written before the key existed
        group = key.split(".", 1)[0]
        if any(k.startswith(group + ".") for k in flat):
            flat.setdefault(key, default)
    return {
        key: target_key(value) if key.endswith("_target_") else value
        for key, value in flat.items()
        if (key in _TOP_LEVEL or key.split(".", 1)[0] in _GROUPS) and key not in _MAY_DIFFER
    }


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{key: (saved value, current value)}`` for the generation keys that differ (missing: ``<absent>``)."""
    return differing(generation_keys(saved), generation_keys(current))


def differing(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{key: (old value, new value)}`` for the flat keys whose values differ (missing: ``<absent>``), sorted."""
    absent = "<absent>"
    return {
        key: (old.get(key, absent), new.get(key, absent))
        for key in sorted(old.keys() | new.keys())
        if old.get(key, absent) != new.get(key, absent)
    }


def has_results(output_dir: Path) -> bool:
    return bool(done_sample_ids(output_dir))


def check_resume_config(output_dir: Path, cfg: DictConfig) -> None:
    """Refuse to resume a folder holding results of a run whose saved config differs in a key that
    changes generations (see the module docstring), naming every differing key. A folder without
    results (or without a saved config) resumes as a fresh run."""
    path = RunFolder(output_dir).config
    if not has_results(output_dir):
        return
    if not path.exists():
        log.warning("resume: %s has results but no %s; cannot check that the settings match", output_dir, path.name)
        return
    saved = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    current = OmegaConf.to_container(cfg, resolve=True)
    diff = config_differences(saved, current)
    if diff:
        lines = "\n".join(f"  {key}: saved {old!r}, now {new!r}" for key, (old, new) in diff.items())
        raise ValueError(
            f"resume=true refused: {output_dir} holds results of a run with different settings "
            f"({', '.join(diff)}):\n{lines}\n{RULE} to match, since they change generations "
            f"(data.limit, data.batch_size, judge, logger, paths, trainer and max_chunk_bytes may differ). "
            f"Pass the saved values (see {path}), or write to a new paths.output_dir."
        )


def prepare_resume(output_dir: Path, cfg: DictConfig) -> None:
    """On global rank 0, before any model loads: check the saved config, cut torn last lines off the
    shards (so appends start on a fresh line), and record the interrupted invocation's costs as a
    segment (``outputs/costs.py``) before dropping its per-rank stats."""
    check_resume_config(output_dir, cfg)
    repair_shards(output_dir)
    start_ledger(output_dir)
    segment = recover_segment(output_dir)
    if segment is not None:
        ended, written = segment["ended"], segment.get("prompts", 0)
        log.info("resume: the interrupted invocation (%s) wrote %d prompts; its costs are kept", ended, written)
    drop_rank_stats(output_dir)
    done = done_sample_ids(output_dir)
    if done:
        log.info("resume: %d samples already written in %s (%s and shards)", len(done), output_dir, GENERATIONS)
