"""Run the CLI as a user would and read what a run wrote (imported by the integration tests)."""

import json
import os
import subprocess
import sys
from pathlib import Path


def cli_env(silent: bool = True, **extra: str) -> dict[str, str]:
    """This process's environment for a CLI child: no distributed variables inherited, offline hubs
    and W&B (``silent=False``: W&B prints what a user would see)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_"))}
    env |= {
        "WANDB_MODE": "offline",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    if silent:
        env["WANDB_SILENT"] = "true"
    else:
        env.pop("WANDB_SILENT", None)
    return env | extra


def run_cli(args: list[str], cwd: Path, timeout: int = 600, check: bool = True, env_extra: dict | None = None):
    """Run ``python -m entrgi.run`` as a user would, in ``cwd``."""
    env = cli_env(**(env_extra or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "entrgi.run", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"entrgi.run {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def read_run(folder: Path) -> tuple[list[dict], dict]:
    records = [json.loads(line) for line in (folder / "generations.jsonl").read_text().splitlines()]
    return records, json.loads((folder / "metrics.json").read_text())
