"""run_info.json's git commit: from git in a clone, from ENTRGI_GIT_COMMIT where git cannot tell (the Docker image)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from entrgi.outputs import provenance
from entrgi.outputs.provenance import ENV_COMMIT, git_commit

SHA = "0123456789abcdef0123456789abcdef01234567"


def no_git(*args, **kwargs):
    raise FileNotFoundError("git")


def test_without_git_the_built_in_commit_is_recorded(monkeypatch):
    monkeypatch.setattr(provenance.subprocess, "run", no_git)
    monkeypatch.setenv(ENV_COMMIT, SHA)
    assert git_commit() == {"git_commit": SHA, "git_dirty": None}


def test_without_git_or_the_variable_nothing_is_claimed(monkeypatch):
    monkeypatch.setattr(provenance.subprocess, "run", no_git)
    monkeypatch.delenv(ENV_COMMIT, raising=False)
    assert git_commit() == {"git_commit": None, "git_dirty": None}
    monkeypatch.setenv(ENV_COMMIT, "  ")  # the Dockerfile's default when --build-arg GIT_COMMIT is left out
    assert git_commit() == {"git_commit": None, "git_dirty": None}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_outside_any_repository_the_built_in_commit_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # no repository above tmp_path counts
    monkeypatch.setenv(ENV_COMMIT, SHA)
    assert git_commit(tmp_path) == {"git_commit": SHA, "git_dirty": None}


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_in_a_repository_git_wins_over_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_COMMIT, SHA)
    config = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("a")
    subprocess.run(["git", *config, "-C", str(tmp_path), "add", "a.txt"], check=True)
    subprocess.run(["git", *config, "-C", str(tmp_path), "commit", "-qm", "a"], check=True)
    info = git_commit(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{40}", info["git_commit"]) and info["git_commit"] != SHA
    assert info["git_dirty"] is False
    (tmp_path / "a.txt").write_text("b")
    assert git_commit(tmp_path)["git_dirty"] is True


def test_the_package_folder_is_the_default(monkeypatch):
    seen = []
    monkeypatch.setattr(provenance.subprocess, "run", lambda args, cwd, **kw: seen.append(Path(cwd)) or no_git())
    git_commit()
    assert seen and seen[0] == Path(provenance.__file__).resolve().parent
