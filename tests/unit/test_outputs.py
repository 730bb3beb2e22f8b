"""The run folder's format has one owner (``entrgi.outputs``): one torn-last-line policy for every reader,
atomic whole-file writes, metrics.json through one builder, and no file name spelled elsewhere."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import pytest
from fakes import LengthJudge
from report_runs import write_run

from entrgi import report
from entrgi.analysis.runs import ReportError, load_runs
from entrgi.outputs import atomic, jsonl
from entrgi.outputs.files import NAMES, RunFolder, RunFolderError
from entrgi.outputs.generations import done_sample_ids, open_shard, read_generations
from entrgi.outputs.metrics import Generated, RunSetup, read_metrics, run_metrics, with_judge, write_metrics
from entrgi.pipeline.rejudge import judge_run

ROOT = Path(__file__).resolve().parents[2]
OWNER = ROOT / "src" / "entrgi" / "outputs"
TORN = '{"sample_id": "p9", "prompt": "say'  # a record cut mid-write: no newline


def _tear(path: Path) -> None:
    with path.open("a") as f:
        f.write(TORN)


# ------------------------------------------------------------------ one owner of the names
def _docstrings(tree: ast.AST) -> set[int]:
    """Bare string statements: module, class and function docstrings, and attribute docstrings."""
    return {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}


def spelled_names(source: str) -> list[str]:
    """String literals (docstrings aside) that spell a run-folder name: a file name anywhere in the
    string, a folder name (``shards``, ``plots``) as the whole string."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value
            found += [n for n in NAMES if (n in text if "." in n else n == text)]
    return found


def _sources() -> list[tuple[str, str]]:
    files = [p for p in (ROOT / "src" / "entrgi").rglob("*.py") if OWNER not in p.parents and "assets" not in p.parts]
    out = [(str(p.relative_to(ROOT)), p.read_text()) for p in [*files, *(ROOT / "bench").rglob("*.py")]]
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        out += [(f"{nb.name} cell {i}", "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "code"]
    return out


def test_no_run_folder_name_is_spelled_outside_outputs():
    bad = {where: names for where, source in _sources() if (names := spelled_names(source))}
    assert not bad, f"use the names of entrgi.outputs.files (RunFolder, GENERATIONS, ...) instead: {bad}"


def test_the_name_check_sees_a_planted_literal():
    assert spelled_names('p = out / "generations.jsonl"') == ["generations.jsonl"]
    assert spelled_names('d = out / "shards"') == ["shards"]
    assert spelled_names('def f():\n    """writes metrics.json"""\n    log("3 shards")') == []


# ------------------------------------------------------------------ one torn-line policy
def test_a_torn_last_line_is_skipped_with_a_warning_and_repaired(tmp_path, caplog):
    path = tmp_path / "a.jsonl"
    path.write_text('{"sample_id": "a"}\n\n{"sample_id": "b"}\n' + TORN)
    with caplog.at_level(logging.WARNING):
        assert [r["sample_id"] for r in jsonl.read_records(path)] == ["a", "b"]
    assert "torn last line" in caplog.text and str(path) in caplog.text
    assert jsonl.repair(path) == len(TORN) and path.read_text().endswith('"b"}\n')


def test_a_damaged_complete_line_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"sample_id": "a"}\n{"sample_id": \n{"sample_id": "c"}\n')
    with pytest.raises(RunFolderError, match=rf"{path} line 2 is not a JSON record.*Remove the line"):
        jsonl.read_records(path)
    path.write_text('{"sample_id": "a"}\n[1, 2]\n')
    with pytest.raises(RunFolderError, match="line 2 is not a JSON record .*a JSON list"):
        jsonl.read_records(path)
    path.write_text('{"sample_id": "a"}\n{"prompt": "x"}\n')
    with pytest.raises(RunFolderError, match="line 2 has no 'sample_id' field"):
        jsonl.read_records(path, ("sample_id",))


def test_the_writer_resume_skips_a_torn_last_line(tmp_path):
    shard = RunFolder(tmp_path).shard(0)
    shard.parent.mkdir()
    shard.write_text('{"sample_id": "p0"}\n')
    _tear(shard)
    assert done_sample_ids(tmp_path) == {"p0"}
    assert open_shard(tmp_path, 0) == shard and shard.read_text() == '{"sample_id": "p0"}\n'


def test_the_report_skips_a_torn_last_line(tmp_path):
    run = write_run(tmp_path / "run", "entrgi", 1, [1.0, 2.0])
    _tear(RunFolder(run).generations)
    (loaded,) = load_runs(tmp_path)
    assert [r["sample_id"] for r in loaded.records] == ["p0", "p1"]
    assert report.main([str(tmp_path), "--no-plots", "--no-wandb"])


def test_the_report_names_a_damaged_line(tmp_path, capsys):
    run = write_run(tmp_path / "run", "entrgi", 1, [1.0])
    with RunFolder(run).generations.open("a") as f:
        f.write("not json\n")
    with pytest.raises(ReportError, match="line 2 is not a JSON record"):
        _ = load_runs(tmp_path)[0].records
    with pytest.raises(SystemExit):
        report.main([str(tmp_path), "--no-wandb"])
    assert "generations.jsonl line 2 is not a JSON record" in capsys.readouterr().err


def test_the_judge_skips_a_torn_last_line_and_rewrites_the_file_without_it(tmp_path):
    run = write_run(tmp_path / "run", "entrgi", 1, [1.0, 2.0])
    _tear(RunFolder(run).generations)
    n, summary = judge_run(run, LengthJudge())
    assert n == 2 and summary["judge"] == "length"
    assert [r["judge_name"] for r in read_generations(run)] == ["length", "length"]
    assert RunFolder(run).generations.read_text().endswith("}\n") and "p9" not in RunFolder(run).generations.read_text()
    assert read_metrics(run)["judge"] == "length"


def test_the_judge_names_a_damaged_line(tmp_path):
    run = write_run(tmp_path / "run", "entrgi", 1, [1.0])
    with RunFolder(run).generations.open("a") as f:
        f.write('{"sample_id": "p1"}\n')
    before = RunFolder(run).generations.read_text()
    with pytest.raises(SystemExit, match="line 2 has no 'prompt' field"):
        judge_run(run, LengthJudge())
    assert RunFolder(run).generations.read_text() == before


# ------------------------------------------------------------------ atomic writes
def test_an_atomic_write_leaves_no_temp_file(tmp_path):
    path = tmp_path / "metrics.json"
    atomic.write_json(path, {"a": 1})
    atomic.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize("fail", ["replace", "fsync"])
def test_a_failed_atomic_write_keeps_the_old_file_whole(tmp_path, monkeypatch, fail):
    path = tmp_path / "generations.jsonl"
    jsonl.write(path, [{"sample_id": "old"}])

    def boom(*args, **kwargs):
        raise OSError(f"simulated {fail} failure")

    monkeypatch.setattr(atomic.os, fail, boom)
    with pytest.raises(OSError, match="simulated"):
        jsonl.write(path, [{"sample_id": "new"}] * 1000)
    monkeypatch.undo()
    assert path.read_text() == '{"sample_id": "old"}\n' and [p.name for p in tmp_path.iterdir()] == [path.name]


# ------------------------------------------------------------------ metrics.json
def test_metrics_json_round_trip_and_rejudge(tmp_path):
    setup = RunSetup(
        identity={"method": "bon", "judge": "oracle"}, guidance="bon", seed=1, samples_per_prompt=2, skipped={}
    )
    records = [{"sample_id": "a", "top1_reward": 1.0, "avgN_reward": 0.5, "rewards": [1.0, 0.0]}]
    generated = Generated(
        records=records,
        stats={"generated_tokens": 4, "generation_wall_s": 2.0},
        total_wall_s=3.0,
        compute={"flops": 1.0},
        world_size=1,
        resumed_prompts=0,
    )
    metrics = run_metrics(setup, generated) | {"judge": "oracle", "judge_oracle_total_mean": 0.5}
    write_metrics(tmp_path, metrics)
    assert read_metrics(tmp_path) == metrics and list(read_metrics(tmp_path)) == list(metrics)
    rejudged = with_judge(read_metrics(tmp_path), {"judge": "length", "judge_score_mean": 3.0}, "LengthJudge")
    assert rejudged["run"] == {"method": "bon", "judge": "LengthJudge"} and "judge_oracle_total_mean" not in rejudged
    assert {k: v for k, v in rejudged.items() if not k.startswith("judge") and k != "run"} == {
        k: v for k, v in metrics.items() if not k.startswith("judge") and k != "run"
    }
    RunFolder(tmp_path).metrics.write_text("{")
    with pytest.raises(RunFolderError, match="metrics.json is not JSON"):
        read_metrics(tmp_path)
