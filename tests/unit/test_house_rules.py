"""House rules that hold by construction only if a test keeps them: the layers (derived from the
folders of src/entrgi/, never from a hand-kept list of modules), file sizes under src/, and test file
names pytest can collect together."""

import ast
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "entrgi"
# Each top-level folder of src/entrgi/ is a layer; a module may import its own layer and those ranked
# below it, never one above ("nothing imports upward"). The top-level .py files are the entry points.
RANKS = {"engine": 0, "testbed": 1, "data": 2, "judges": 2, "outputs": 3, "analysis": 4, "pipeline": 5}
ENTRY = 6
# What the engine may import besides itself and the standard library.
ENGINE_THIRD_PARTY = {"torch", "transformers", "numpy", "packaging", "peft", "bitsandbytes"}
FRAMEWORK_LIBS = {"hydra", "omegaconf", "lightning", "pytorch_lightning"}
# Allowed to import FRAMEWORK_LIBS: the framework layer, the entry points, and the testbed's training
# recipes (they train the shipped tiny models with Lightning).
FRAMEWORK_ALLOWED = ("pipeline", "testbed/training")
MAX_LINES = 300


def source_files() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "assets" not in p.parts)


def layer_of(path: Path) -> str:
    """The layer of a file under src/entrgi/: its top-level folder, or ``entry`` for a top-level module."""
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else "entry"


def rank_of_module(module: str) -> int | None:
    """The rank of an ``entrgi.*`` module's layer (None for ``entrgi`` itself and ``entrgi.conf``)."""
    parts = module.split(".")
    if parts[0] != "entrgi" or len(parts) < 2 or parts[1] == "conf":
        return None
    return RANKS.get(parts[1], ENTRY)


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def layer_violations(path: Path, modules: set[str]) -> list[str]:
    """Every rule ARCHITECTURE.md states about imports, for one file."""
    layer = layer_of(path)
    rank = RANKS.get(layer, ENTRY)
    rel = path.relative_to(SRC).as_posix()
    bad = []
    for m in sorted(modules):
        root = m.split(".")[0]
        target = rank_of_module(m)
        if target is not None and target > rank:
            bad.append(f"{m} (a layer above {layer})")
        if layer == "engine":
            if root == "entrgi" and not (m == "entrgi.engine" or m.startswith("entrgi.engine.")):
                bad.append(f"{m} (the engine imports only itself)")
            elif root != "entrgi" and root not in sys.stdlib_module_names and root not in ENGINE_THIRD_PARTY:
                bad.append(
                    f"{m} (the engine imports only torch, transformers, peft, bitsandbytes, numpy, packaging "
                    "and the standard library)"
                )
        if root in FRAMEWORK_LIBS and layer != "entry" and not rel.startswith(FRAMEWORK_ALLOWED):
            bad.append(f"{m} (only pipeline/ and the entry points import Hydra, OmegaConf or Lightning)")
    return bad


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_layers_import_only_downward(path):
    bad = layer_violations(path, imported_modules(path))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize(
    "planted",
    ["entrgi.pipeline.oom", "entrgi.analysis.runs", "entrgi.judges", "hydra", "lightning", "wandb", "entrgi.run"],
)
def test_a_planted_upward_import_in_the_engine_fails(planted):
    denoiser = SRC / "engine" / "denoiser.py"
    assert not layer_violations(denoiser, imported_modules(denoiser))
    assert layer_violations(denoiser, imported_modules(denoiser) | {planted})


def test_a_planted_framework_import_outside_the_framework_fails():
    runs = SRC / "analysis" / "runs.py"
    assert layer_violations(runs, {"omegaconf"}) and layer_violations(runs, {"entrgi.pipeline.resume"})
    assert not layer_violations(SRC / "pipeline" / "phases.py", {"hydra", "entrgi.analysis.runs"})


def test_the_run_folder_format_sits_below_its_readers_and_writers():
    metrics = SRC / "outputs" / "metrics.py"
    assert not layer_violations(metrics, {"entrgi.judges.apply", "entrgi.engine.denoiser", "yaml"})
    for planted in ("entrgi.analysis.runs", "entrgi.pipeline.phases", "omegaconf", "entrgi.report"):
        assert layer_violations(metrics, {planted}), planted


def test_every_folder_is_a_known_layer():
    folders = {p.name for p in SRC.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(RANKS), f"a new top-level folder needs a rank in RANKS: {folders ^ set(RANKS)}"


def test_no_source_file_exceeds_300_lines():
    long = {str(p.relative_to(ROOT)): n for p in source_files() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by idea (house rule: at most {MAX_LINES} lines): {long}"


def test_test_file_names_are_unique():
    # tests/ has no __init__.py: pytest's default import mode stops at collection on two files of one name
    names = Counter(p.name for p in (ROOT / "tests").rglob("test_*.py"))
    assert not [n for n, count in names.items() if count > 1]


# The jobs of pipeline/ (``python -m entrgi.<job>``): their modules. What they share lives in the rest of pipeline/
# (builders.py, run_folder.py, preflight.py, ...), never in another job's module.
JOBS = {
    "run": ("entrgi.pipeline.phases",),
    "posttrain": ("entrgi.pipeline.posttrain",),
    "probe": ("entrgi.pipeline.probe",),
    "judge": ("entrgi.pipeline.rejudge",),
    "train": ("entrgi.pipeline.train",),
    "workspace": ("entrgi.pipeline.workspace",),
}


def job_of(module: str) -> str | None:
    return next((job for job, mods in JOBS.items() for m in mods if module == m or module.startswith(m + ".")), None)


def cross_job_imports(path: Path, modules: set[str]) -> list[str]:
    rel = path.relative_to(SRC.parent).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
    own = job_of(rel)
    return sorted(m for m in modules if own is not None and job_of(m) not in (None, own))


@pytest.mark.parametrize("path", [p for p in source_files() if p.relative_to(SRC).parts[0] == "pipeline"])
def test_no_job_imports_another_jobs_module(path):
    bad = cross_job_imports(path, imported_modules(path))
    assert not bad, f"{path.relative_to(ROOT)} imports another job's module {bad}: move what both need out of it"


def test_a_planted_cross_job_import_fails():
    job = SRC / "pipeline" / "posttrain" / "job.py"
    assert not cross_job_imports(job, imported_modules(job))
    assert cross_job_imports(job, imported_modules(job) | {"entrgi.pipeline.phases"})
    assert cross_job_imports(SRC / "pipeline" / "probe.py", {"entrgi.pipeline.posttrain.data"})


def class_registries(tree: ast.Module) -> list[str]:
    """Module-level dicts whose values are classes (a name -> class table): how a plug-in is NOT chosen."""
    out = []
    for node in tree.body:
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if isinstance(value, ast.Dict) and any(
            isinstance(v, ast.Name) and v.id[:1].isupper() and not v.id.isupper() for v in value.values
        ):
            out.append(ast.unparse(node)[:60])
    return out


@pytest.mark.parametrize("path", [p for p in source_files() if p.relative_to(SRC).parts[0] == "pipeline"])
def test_the_framework_keeps_no_registry_of_plugins(path):
    found = class_registries(ast.parse(path.read_text()))
    assert not found, f"{path.relative_to(ROOT)}: {found}; select plug-ins by _target_ or engine/plugins.resolve"


def test_a_planted_registry_is_found():
    planted = ast.parse('ESTIMATORS = {"one_step": OneStepEstimator, "elbo": ElboEstimator}\nLIMITS = {"a": MAX}')
    (found,) = class_registries(planted)  # the table of classes, not the dict of constants
    assert found.startswith("ESTIMATORS = ")
