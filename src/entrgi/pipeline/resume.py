"""``resume=true``: continue a run in its output folder, refusing one whose saved config differs.

A resumed run skips the sample_ids already written (``generations.jsonl`` and the per-rank shards,
complete lines only) and appends the rest, so a run killed at any moment (SIGKILL included) and
restarted with the same command plus ``resume=true`` ends with every sample_id exactly once and the
records written before the kill unchanged byte for byte. A half-written last line of a shard is cut
off before anything is appended and its sample is redone.

What must match is a :class:`ResumeRule`, one per job, all built on :data:`GENERATION_GROUPS` (the one list of
the config groups that change what is generated). For ``entrgi.run`` (:data:`RUN_RESUME`,
:func:`generation_keys`): every key under ``model``, ``reward``, ``guidance``, ``schedule``, ``particles`` and
``data`` except ``data.limit`` (and ``data.source.limit``, which follows it) and ``data.batch_size``, plus
``seed``, ``samples_per_prompt`` and ``save_entropy_maps`` — the keys that change a record. For
``entrgi.posttrain`` (:data:`POSTTRAIN_RESUME`) also ``objective``, ``lora`` and ``posttrain`` (the steps still to
take; the LR schedule spans ``posttrain.max_steps``) and ``max_chunk_bytes``. In a run ``data.limit`` may differ
(a bigger limit extends the run, a smaller one finishes a prefix); judges, loggers, paths, trainer (devices,
strategy), ``data.batch_size`` and ``max_chunk_bytes`` may differ too.

Folders written by earlier versions resume too: a ``_target_`` is compared by its class (and
constructor), not its module path (the engine moved to ``entrgi.engine``), and a key added since
(:data:`ADDED_DEFAULTS`) that the saved config lacks counts as its default, the behaviour it was
written with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from entrgi.outputs.costs import recover_segment, start_ledger
from entrgi.outputs.files import GENERATIONS, RunFolder
from entrgi.outputs.generations import done_sample_ids, drop_rank_stats, repair_shards
from entrgi.outputs.identity import FIDELITY_DEFAULTS

log = logging.getLogger(__name__)

# The config groups that change what a job generates: the one list every resume rule starts from.
GENERATION_GROUPS = ("model", "reward", "guidance", "schedule", "data", "particles")
# A group added since run folders were first written, and what its absence meant.
ADDED_GROUPS = {"particles._target_": "NoParticles"}


@dataclass(frozen=True)
class ResumeRule:
    """The keys a resumed job must keep: every key under ``groups`` and the top-level ``top``, except
    ``may_differ`` (and, with ``devices_may_differ``, each group's ``.device``, where a model sits)."""

    groups: tuple[str, ...]
    top: tuple[str, ...]
    may_differ: tuple[str, ...]
    devices_may_differ: bool = False

    def keeps(self, key: str) -> bool:
        return (
            (key in self.top or key.split(".", 1)[0] in self.groups)
            and key not in self.may_differ
            and not (self.devices_may_differ and key.endswith(".device"))
        )

    def sentence(self) -> str:
        """What the rule asks, for the refusal's message."""
        groups = ", ".join(f"{g}.*" for g in self.groups)
        except_ = ", ".join(self.may_differ)
        return f"resume=true requires the saved run's {groups} (except {except_}) and {', '.join(self.top)}"


RUN_RESUME = ResumeRule(
    groups=GENERATION_GROUPS,
    top=("seed", "samples_per_prompt", "save_entropy_maps"),
    # data.source.limit: ${..limit}; the layers post-training would adapt do not change generations
    may_differ=("data.limit", "data.source.limit", "data.batch_size", "model.lora_target_modules"),
)
POSTTRAIN_RESUME = ResumeRule(
    groups=(*GENERATION_GROUPS, "objective", "lora", "posttrain"),
    top=("seed", "samples_per_prompt", "max_chunk_bytes"),
    may_differ=("posttrain.checkpoint_every", "posttrain.gradient_checkpointing", "data.batch_size"),
    devices_may_differ=True,
)
RULE = RUN_RESUME.sentence()


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


def generation_keys(config: dict[str, Any], rule: ResumeRule = RUN_RESUME) -> dict[str, Any]:
    """The flattened keys of a resolved config that ``rule`` keeps (default: those that change a run's
    generations); ``_target_`` by class, keys added since the folder was written at their defaults."""
    flat = flatten_config(config)
    for key, default in ADDED_GROUPS.items():  # a folder written before the group existed
        if not any(k.startswith(key.split(".", 1)[0] + ".") for k in flat):
            flat[key] = default
    for key, default in ADDED_DEFAULTS.items():  # a folder written before the key existed
        group = key.split(".", 1)[0]
        if any(k.startswith(group + ".") for k in flat):
            flat.setdefault(key, default)
    return {
        key: target_key(value) if key.endswith("_target_") else value for key, value in flat.items() if rule.keeps(key)
    }


def config_differences(
    saved: dict[str, Any], current: dict[str, Any], rule: ResumeRule = RUN_RESUME
) -> dict[str, tuple[Any, Any]]:
    """``{key: (saved value, current value)}`` for the keys ``rule`` keeps that differ (missing: ``<absent>``)."""
    return differing(generation_keys(saved, rule), generation_keys(current, rule))


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
    refuse_differences(
        path,
        cfg,
        RUN_RESUME,
        f"{output_dir} holds results of a run with different settings",
        f"{RULE} to match, since they change generations (data.limit, data.batch_size, judge, logger, paths, "
        f"trainer and max_chunk_bytes may differ). Pass the saved values (see {path}), or write to a new "
        "paths.output_dir.",
    )


def check_training_config(output_dir: Path, cfg: DictConfig) -> None:
    """Refuse ``resume=true`` of a post-training run whose saved config differs in a key that shapes the steps
    still to take (:data:`POSTTRAIN_RESUME`), naming each; nothing to check without a saved config."""
    path = RunFolder(output_dir).config
    if path.is_file():
        refuse_differences(
            path,
            cfg,
            POSTTRAIN_RESUME,
            f"{output_dir} was trained with different settings",
            f"{POSTTRAIN_RESUME.sentence()} (posttrain.max_steps too: the linear LR schedule spans it). Pass the "
            f"saved values (see {path}), or train into a new paths.output_dir.",
        )


def refuse_differences(saved_config: Path, cfg: DictConfig, rule: ResumeRule, what: str, advice: str) -> None:
    """``ValueError`` naming every key ``rule`` keeps whose value in ``saved_config`` differs from ``cfg``'s."""
    saved = OmegaConf.to_container(OmegaConf.load(saved_config), resolve=False)
    diff = config_differences(saved, OmegaConf.to_container(cfg, resolve=True), rule)
    if diff:
        lines = "\n".join(f"  {key}: saved {old!r}, now {new!r}" for key, (old, new) in diff.items())
        raise ValueError(f"resume=true refused: {what} ({', '.join(diff)}):\n{lines}\n{advice}")


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
