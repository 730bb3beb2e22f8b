"""Short group labels a reader takes in at a glance: ``bon+fk K=8``, ``entrgi every=2``, ``w=constant:0.5``.

A label is the method, joined by ``+`` to the option of each *glued* config group the group's runs chose
(``particles=fk`` -> ``bon+fk``; the ``none`` option adds nothing), then only the axes that tell the group
apart from the others of that family: K whenever the family has several, any other axis where the group
departs from its family's most common value (every group shows an axis whose values tie for most common).
A class-valued axis (``data.source._target_``) shows the option that chose the class (``data=jsonl``),
read from the run's recorded Hydra choices or, for runs started from Python, from the one option of
``conf/<group>/`` whose ``_target_`` it is: never a class name, unless no option names it (an out-of-tree
class in a run without Hydra), then the class in snake_case.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # runs.py imports this module
    from entrgi.analysis.runs import Group

MISSING = "—"
GLUED = ("particles",)  # config groups whose option joins the method: bon+fk
NO_OPTION = "none"
FOLDED = ("guidance._target_",)  # axes the method already names
SYMBOLS = {"samples_per_prompt": "K", "schedule.steps": "T", "guidance.inner_steps": "M", "schedule.temperature": "tau"}
K_AXIS = "samples_per_prompt"


def short_name(key: str) -> str:
    """``guidance.lr`` -> ``lr``; ``data.source._target_`` -> ``data`` (a class by its config group);
    ``samples_per_prompt`` -> ``K``."""
    if key in SYMBOLS:
        return SYMBOLS[key]
    parts = key.split(".")
    return parts[0] if parts[-1] == "_target_" and len(parts) > 1 else parts[-1]


def _snake(name: str) -> str:
    """``TestbedPromptSource`` -> ``testbed_prompt_source``, ``TestbedLM`` -> ``testbed_lm``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _class_of(target: str) -> str:
    """``pkg.mod.Class`` and ``pkg.mod.Class.from_pretrained`` -> ``Class``."""
    parts = target.split(".")
    return parts[-2] if len(parts) > 1 and parts[-1][:1].islower() and parts[-2][:1].isupper() else parts[-1]


@cache
def _options_by_target(group: str, inner: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """class name -> the options of ``conf/<group>/`` whose node at ``inner`` has a ``_target_`` of that class."""
    found: dict[str, list[str]] = {}
    folder = resources.files("entrgi.conf") / group
    if not folder.is_dir():
        return {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        try:
            node = yaml.safe_load(entry.read_text()) or {}
            for part in inner:
                node = node.get(part) or {}
        except (yaml.YAMLError, AttributeError):
            continue
        target = node.get("_target_") if isinstance(node, dict) else None
        if isinstance(target, str):
            found.setdefault(_class_of(target), []).append(entry.name[: -len(".yaml")])
    return {k: tuple(v) for k, v in found.items()}


def option_name(key: str, value: Any, choices: dict[str, str]) -> str:
    """The option that set a ``<group>...._target_`` axis to ``value``; other axes' values as text."""
    if not (key.endswith("._target_") and isinstance(value, str)):
        return str(value)
    parts = key.split(".")
    group = parts[0]
    if group in choices:
        return choices[group]
    options = _options_by_target(group, tuple(parts[1:-1])).get(_class_of(value), ())
    return options[0] if len(options) == 1 else _snake(_class_of(value))


def axis_text(key: str, value: Any, choices: dict[str, str]) -> str:
    return f"{short_name(key)}={option_name(key, value, choices)}"


def _glued_axis(key: str) -> bool:
    return key.endswith("._target_") and key.split(".")[0] in GLUED and key.count(".") == 1


def family(group: Group) -> str:
    """The method, with ``+<option>`` for each glued group's option other than ``none`` (``bon+fk``)."""
    choices = group.runs[0].choices
    glued = [
        option_name(k, v, choices)
        for k, v in group.key.items()
        if _glued_axis(k) and v != MISSING and option_name(k, v, choices) != NO_OPTION
    ]
    return "+".join([group.method, *glued])


def _most_common(values: list[str]) -> str | None:
    """The one most common value; None when several tie (then no value is the family's default)."""
    counts = sorted((values.count(v) for v in set(values)), reverse=True)
    return None if len(counts) > 1 and counts[0] == counts[1] else max(set(values), key=values.count)


def set_labels(groups: list[Group], shown: list[str]) -> None:
    """``group.label`` for every group: unique short labels (see the module's docstring)."""
    families = [family(g) for g in groups]
    axes = [a for a in shown if a not in FOLDED and not _glued_axis(a)]
    for g, fam in zip(groups, families, strict=True):
        same = [o for o, f in zip(groups, families, strict=True) if f == fam]
        parts = []
        for a in axes:
            value = g.shown.get(a, MISSING)
            values = [repr(o.shown.get(a, MISSING)) for o in same]
            if value == MISSING or len(set(values)) == 1:
                continue
            if a == K_AXIS or repr(value) != _most_common(values):
                parts.append(axis_text(a, value, g.runs[0].choices))
        g.label = " ".join([fam, *parts])
    _make_unique(groups, axes)


def _make_unique(groups: list[Group], axes: list[str]) -> None:
    """Groups that share a label get every axis on which they differ from each other, in axis order."""
    by_label: dict[str, list[Group]] = {}
    for g in groups:
        by_label.setdefault(g.label, []).append(g)
    for clash in (c for c in by_label.values() if len(c) > 1):
        keys = [a for a in dict.fromkeys([*axes, *clash[0].key]) if len({repr(g.key.get(a)) for g in clash}) > 1]
        for g in clash:
            extra = [axis_text(a, g.key.get(a, MISSING), g.runs[0].choices) for a in keys]
            g.label = " ".join([g.label, *(e for e in extra if e not in g.label.split())])
