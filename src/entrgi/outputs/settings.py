"""``config.yaml`` (the resolved config) and ``run_info.json`` (git commit, torch) of a run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from entrgi.outputs.atomic import write_json, write_text
from entrgi.outputs.files import RunFolder, RunFolderError


def write_config(folder: Path | str, text: str) -> None:
    """Replace ``folder``'s ``config.yaml`` with ``text`` (the resolved config as YAML), atomically."""
    write_text(RunFolder(folder).config, text)


def write_run_info(folder: Path | str, info: dict[str, Any]) -> None:
    write_json(RunFolder(folder).run_info, info)


def read_run_info(folder: Path | str) -> dict[str, Any]:
    """``folder``'s ``run_info.json`` ({} when absent or unreadable: it is informational)."""
    try:
        info = json.loads(RunFolder(folder).run_info.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def read_choices(folder: Path | str) -> dict[str, str]:
    """The config groups' chosen options of a run (``{"guidance": "bon", "particles": "fk", ...}``): run_info.json's
    ``choices``, else Hydra's ``.hydra/hydra.yaml`` (runs written before run_info kept them); {} when neither
    has them (a run started from Python, not the command line)."""
    choices = read_run_info(folder).get("choices")
    if not isinstance(choices, dict):
        try:
            record = yaml.safe_load(RunFolder(folder).hydra_record.read_text()) or {}
            choices = ((record.get("hydra") or {}).get("runtime") or {}).get("choices")
        except (OSError, yaml.YAMLError, AttributeError):
            choices = None
    if not isinstance(choices, dict):
        return {}
    return {str(k): str(v) for k, v in choices.items() if v is not None and not str(k).startswith("hydra")}


def has_config(folder: Path | str) -> bool:
    return RunFolder(folder).config.is_file()


def read_config(folder: Path | str) -> dict[str, Any]:
    """``folder``'s ``config.yaml`` as a nested dict (interpolations left as written)."""
    path = RunFolder(folder).config
    what_to_do = "restore it (a CLI run keeps Hydra's copy in .hydra/) or rerun the run"
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise RunFolderError(f"{path} is not YAML ({err}); {what_to_do}") from None
    if not isinstance(config, dict):
        raise RunFolderError(f"{path} holds no mapping; {what_to_do}")
    return config
