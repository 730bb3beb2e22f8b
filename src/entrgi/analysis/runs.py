"""Runs of a run or sweep folder, their resolved configs, the axes that vary, and groups over seeds.

A group is every run that shares the values of all varying config keys except the seed: the
report averages each metric over a group's runs (its seeds). Keys that are not experimental
axes never split groups: seeds (``seed`` and keys equal to it, e.g. ``data.source.seed: ${seed}``),
``paths.*``, ``logger.*``, ``hydra.*``, ``judge.*`` / ``data.judge.*`` (a judge is a metric:
rescoring may change it), ``resume`` and ``experiment_name``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from entrgi.analysis.labels import K_AXIS, MISSING, family, set_labels
from entrgi.outputs.files import METRICS, RunFolderError, find_run_folders
from entrgi.outputs.generations import read_generations
from entrgi.outputs.metrics import read_metrics
from entrgi.outputs.settings import has_config, read_choices, read_config

# MISSING ("—"): the value of a key that a run's config lacks (e.g. guidance.lr for BoN)
EXCLUDED_PREFIXES = ("paths.", "logger.", "hydra.", "judge.", "data.judge.")
EXCLUDED_KEYS = ("seed", "resume", "experiment_name")
GUIDANCE_PREFIX = "guidance."
# metrics.json's run identity -> the config key it comes from (runs without a config.yaml)
IDENTITY_KEYS = {
    "method": "guidance.method",
    "weight": "guidance.weight",
    "inner_steps": "guidance.inner_steps",
    "lr": "guidance.lr",
    "normalization": "guidance.normalization",
    "every": "guidance.every",
    "until": "guidance.until",
    "min_entropy": "guidance.min_entropy",
    "steps": "schedule.steps",
    "temperature": "schedule.temperature",
    "top_p": "schedule.top_p",
    "top_k": "schedule.top_k",
    "alg": "schedule.alg",
    "max_new_tokens": "schedule.max_new_tokens",
    "filter_order": "schedule.filter_order",
    "entropy_filter": "schedule.entropy_filter",
    "position_ids": "reward.position_ids",
    "vocab_fallback": "reward.vocab_fallback",
    "stop_tokens": "model.stop_tokens",
    "dataset": "data.path",  # a hub id or file; the testbed's name otherwise
    "dllm": "model.path",
    "reward": "reward.path",
    "judge": "judge.name",
}


class ReportError(Exception):
    """A folder the report cannot read; the message says what to pass instead."""


def flatten_for_grouping(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {"a.b.c": value}; lists become JSON strings so that values are hashable (an empty
    dict leaves no key)."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out |= flatten_for_grouping(v, f"{prefix}{k}.")
        return out
    return {prefix[:-1]: json.dumps(tree) if isinstance(tree, list) else tree}


@dataclass(kw_only=True)
class Run:
    """One run folder: ``metrics.json``, its flattened ``config.yaml`` and (lazily) ``generations.jsonl``."""

    dir: Path
    metrics: dict
    config: dict[str, Any]
    choices: dict[str, str] = field(default_factory=dict)  # Hydra's options: {"guidance": "bon", ...}
    _records: list[dict] | None = field(default=None, repr=False)

    @property
    def method(self) -> str:
        return str(self.metrics.get("method", self.config.get("method", "?")))

    @property
    def seed(self) -> Any:
        return self.metrics.get("seed", self.config.get("seed"))

    @property
    def records(self) -> list[dict]:
        if self._records is None:
            try:
                self._records = read_generations(self.dir)  # none without the file (a run with no prompt)
            except RunFolderError as err:
                raise ReportError(str(err)) from None
        return self._records


def load_run(folder: Path) -> Run:
    metrics = read_metrics(folder)
    if has_config(folder):
        config = flatten_for_grouping(read_config(folder))
    else:  # older runs: the identity in metrics.json stands in for the config
        config = {IDENTITY_KEYS.get(k, k): v for k, v in flatten_for_grouping(metrics.get("run") or {}).items()}
        for key in ("seed", "samples_per_prompt"):
            if key in metrics:
                config.setdefault(key, metrics[key])
    return Run(dir=folder, metrics=metrics, config=config, choices=read_choices(folder))


def load_runs(root: Path | str) -> list[Run]:
    """Every run under ``root`` (a run folder or a Hydra multirun folder), in path order."""
    root = Path(root)
    if not root.is_dir():
        raise ReportError(
            f"{root} is not a folder: pass a run folder (outputs/<date>/<time>) or a sweep "
            f"folder (multirun/<date>/<time>)"
        )
    found = find_run_folders(root, METRICS)
    if not found:
        raise ReportError(
            f"no {METRICS} under {root}: is it an entrgi output folder? A run writes "
            f"{METRICS} into paths.output_dir when it finishes"
        )
    try:
        return [load_run(folder) for folder in found]
    except RunFolderError as err:
        raise ReportError(str(err)) from None


def latest_sweep(root: Path | str = "multirun") -> Path:
    """The newest ``<date>/<time>`` folder of a Hydra multirun root (``root`` itself if it has none)."""
    root = Path(root)
    sweeps = sorted(p for p in root.glob("*/*") if p.is_dir() and any(p.rglob(METRICS)))
    return sweeps[-1] if sweeps else root


def _excluded(key: str) -> bool:
    return key in EXCLUDED_KEYS or key.startswith(EXCLUDED_PREFIXES)


def _seed_like(key: str, runs: list[Run]) -> bool:
    """The key equals the run's seed wherever it is set, over at least two different seeds."""
    present = [r for r in runs if key in r.config]
    return len({repr(r.seed) for r in present}) >= 2 and all(r.config[key] == r.seed for r in present)


def varying_axes(runs: list[Run]) -> list[str]:
    """Config keys whose value (or presence) differs across ``runs``, minus seeds and non-axes; config order."""
    keys: dict[str, None] = {}
    for r in runs:
        keys |= dict.fromkeys(r.config)
    return [
        k
        for k in keys
        if not _excluded(k) and len({repr(r.config.get(k, MISSING)) for r in runs}) > 1 and not _seed_like(k, runs)
    ]


def _determined(key: str, by: list[str], runs: list[Run]) -> bool:
    seen: dict[tuple, Any] = {}
    for r in runs:
        ident = (r.method, *(repr(r.config.get(b, MISSING)) for b in by))
        value = repr(r.config.get(key, MISSING))
        if seen.setdefault(ident, value) != value:
            return False
    return True


def shown_axes(runs: list[Run], axes: list[str]) -> list[str]:
    """The axes a reader needs: each one not already determined by the method and the axes kept before it."""
    kept: list[str] = []
    for key in axes:
        if not _determined(key, kept, runs):
            kept.append(key)
    return kept


def _sort_key(value: Any) -> tuple:
    if isinstance(value, bool) or value is None or value == MISSING:
        return (2, str(value))
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


@dataclass(kw_only=True)
class Group:
    """The runs (seeds) of one point of the sweep."""

    method: str
    key: dict[str, Any]  # every varying axis -> value
    shown: dict[str, Any]  # the axes shown in tables -> value
    runs: list[Run]
    label: str = ""  # unique and short (``bon+fk K=8``): set by group_runs (analysis/labels.py)

    @property
    def seeds(self) -> list:
        return sorted({r.seed for r in self.runs}, key=_sort_key)

    @property
    def guided(self) -> bool:
        return self.method != "bon"


def group_runs(runs: list[Run]) -> tuple[list[Group], list[str]]:
    """Groups of runs sharing every varying axis (seeds averaged) and the axes shown; BoN first."""
    axes = varying_axes(runs)
    shown = shown_axes(runs, axes)
    groups: dict[tuple, Group] = {}
    for r in runs:
        ident = (r.method, *(repr(r.config.get(a, MISSING)) for a in axes))
        if ident not in groups:
            groups[ident] = Group(
                method=r.method,
                key={a: r.config.get(a, MISSING) for a in axes},
                shown={a: r.config.get(a, MISSING) for a in shown},
                runs=[],
            )
        groups[ident].runs.append(r)
    ordered = sorted(groups.values(), key=lambda g: (g.method != "bon", g.method, *(_sort_key(g.key[a]) for a in axes)))
    set_labels(ordered, shown)
    # BoN first, then by method; in a method the plain family (``bon``) before the glued ones (``bon+fk``), then K,
    # then the groups that depart from the family's defaults on fewer axes
    ordered.sort(
        key=lambda g: (g.method != "bon", g.method, family(g), _sort_key(g.key.get(K_AXIS)), len(g.label.split()))
    )
    return ordered, shown


def bon_peers(group: Group, groups: list[Group], ignore: tuple[str, ...] = ()) -> list[Group]:
    """BoN groups equal to ``group`` on every axis but the guidance ones (and those in ``ignore``)."""

    def same(other: Group) -> bool:
        return all(
            repr(other.key[a]) == repr(group.key[a])
            for a in group.key
            if not a.startswith(GUIDANCE_PREFIX) and a not in ignore
        )

    return [g for g in groups if g.method == "bon" and g is not group and same(g)]
