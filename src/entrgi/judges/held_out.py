"""A judge must be held out: the guidance reward model as a judge is refused unless asked for.

A judge that guided the responses scores what guidance optimised (its score of the Top@1 response
is Top@1 itself), so it cannot detect reward hacking. ``python -m entrgi.run`` (``pipeline/preflight.py``,
before any model loads) and ``python -m entrgi.judge`` (``pipeline/rejudge.py``, against each run's
saved ``config.yaml``) refuse a judge whose ``path`` is the guidance reward's ``path`` unless
``judge.allow_guidance_reward=true``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from entrgi.engine.checks import require_bool

ALLOW = "allow_guidance_reward"  # the judge config's key that accepts the guidance reward as a judge


def _local_folder(path: str) -> Path | None:
    """``path`` as an existing local folder, resolved (symlinks, ``..``, ``~``); None otherwise (a hub id)."""
    try:
        folder = Path(path).expanduser()
        return folder.resolve() if folder.is_dir() else None
    except (OSError, RuntimeError, ValueError):
        return None


def same_model(a: Any, b: Any) -> bool:
    """Whether two model paths name the same model: the same string (surrounding spaces and trailing
    slashes aside) or the same resolved local folder."""
    if a is None or b is None:
        return False
    a, b = str(a).strip(), str(b).strip()
    if not a or not b:
        return False
    if a.rstrip("/" + os.sep) == b.rstrip("/" + os.sep):
        return True
    fa, fb = _local_folder(a), _local_folder(b)
    return fa is not None and fb is not None and (fa == fb or os.path.samefile(fa, fb))


def check_held_out_judge(judge: Mapping | None, reward: Mapping | None, where: str = "") -> None:
    """``ValueError`` when ``judge``'s ``path`` is ``reward``'s ``path`` (:func:`same_model`) and
    ``judge.allow_guidance_reward`` is not true; ``where`` prefixes the message (a run folder).
    A judge without a ``path`` (the oracle, ``judge=none``) or a reward without one passes."""
    if not judge:
        return
    allow = judge.get(ALLOW, False)
    require_bool(allow, f"judge.{ALLOW}", hint="true only to judge with the guidance reward model itself")
    if allow or not reward:
        return
    judge_path, reward_path = judge.get("path"), reward.get("path")
    if same_model(judge_path, reward_path):
        raise ValueError(
            f"{where}judge.path={judge_path} is the guidance reward model (reward.path={reward_path}): a judge "
            "that guided the responses cannot detect reward hacking (its score of the Top@1 response is Top@1 "
            f"itself). Choose a held-out judge (another judge.path), or pass judge.{ALLOW}=true to judge with "
            "the guidance reward anyway."
        )
