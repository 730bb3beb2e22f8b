"""Which code a run ran, for ``run_info.json``: the git commit of the installed package.

``git_commit()`` asks git in the package's own folder (an editable install in a clone). Where that
fails (git not installed, or the package installed outside any repository, as in the Docker image)
it falls back to ``ENTRGI_GIT_COMMIT``, which ``docker/Dockerfile`` sets from ``--build-arg
GIT_COMMIT=$(git rev-parse HEAD)``; ``git_dirty`` is then None (unknown), as is everything when
neither says.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

ENV_COMMIT = "ENTRGI_GIT_COMMIT"
_TIMEOUT = 10  # seconds per git call


def git_commit(folder: Path | str | None = None) -> dict[str, Any]:
    """``{"git_commit": sha or None, "git_dirty": bool or None}`` for the repository holding ``folder``
    (default: this package's folder), else ``ENTRGI_GIT_COMMIT`` with ``git_dirty`` None."""
    where = Path(folder) if folder is not None else Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], where)
    if commit:
        status = _git(["status", "--porcelain"], where, allow_empty=True)
        return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}
    return {"git_commit": os.environ.get(ENV_COMMIT, "").strip() or None, "git_dirty": None}


def _git(args: list[str], where: Path, allow_empty: bool = False) -> str | None:
    """git's stripped output, or None when git is missing, fails or (unless ``allow_empty``) prints nothing."""
    try:
        proc = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    out = proc.stdout.strip()
    if proc.returncode != 0 or not (out or allow_empty):
        return None
    return out
