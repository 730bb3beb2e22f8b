"""House rules that hold by construction only if a test keeps them: the engine's imports, file
sizes under src/, and test file names pytest can collect together."""

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "entrgi"
ENGINE = [
    "models",
    "guidance",
    "schedule",
    "denoiser.py",
    "trace.py",
    "rng.py",
    "positions.py",
    "checks.py",
    "types.py",
]
FORBIDDEN = ("hydra", "omegaconf", "lightning", "pytorch_lightning", "wandb")
FRAMEWORK = ("entrgi.pipeline", "entrgi.module", "entrgi.callbacks", "entrgi.run", "entrgi.preflight")
MAX_LINES = 300


def engine_files() -> list[Path]:
    files = []
    for name in ENGINE:
        path = SRC / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_the_engine_imports_no_framework(path):
    bad = sorted(
        m
        for m in imported_modules(path)
        if m.split(".")[0] in FORBIDDEN or any(m == f or m.startswith(f + ".") for f in FRAMEWORK)
    )
    assert not bad, (
        f"{path.relative_to(ROOT)} imports {bad}: the engine never imports Hydra, Lightning or the framework"
    )


def test_the_engine_list_names_existing_files():
    assert all((SRC / name).exists() for name in ENGINE)
    assert len(engine_files()) > 10


def test_no_source_file_exceeds_300_lines():
    long = {
        str(p.relative_to(ROOT)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these by idea (house rule: at most {MAX_LINES} lines): {long}"


def test_test_file_names_are_unique():
    # tests/ has no __init__.py: pytest's default import mode stops at collection on two files of one name
    names = Counter(p.name for p in (ROOT / "tests").rglob("test_*.py"))
    assert not [n for n, count in names.items() if count > 1]
