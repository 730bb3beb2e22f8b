"""``python -m entrgi.export``: run, sweep and post-training folders as TRL SFT JSONL (outputs/export.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from entrgi.engine.denoiser import GenerationOutput
from entrgi.engine.types import PromptItem
from entrgi.export import main
from entrgi.judges import record_messages
from entrgi.outputs.export import ALL, BEST, ExportError, export_rows, write_export
from entrgi.outputs.files import EXPORT, EXPORT_ALL
from entrgi.outputs.generations import read_generations, write_generations
from entrgi.outputs.posttrain import append_samples
from entrgi.outputs.records import to_records

NAN = float("nan")
# Two prompts, K = 3: the best response is in the middle for p0 and last for p1 (after a NaN reward).
REWARDS = [[0.1, 0.9, 0.5], [NAN, 0.2, 0.7]]
COLUMNS = {"prompt", "completion", "reward", "sample_id", "run", "method", "seed"}


def write_run(folder, seed=1, rewards=REWARDS):
    """A run folder whose generations.jsonl is written by the run's own record code."""
    items = [PromptItem("p0", "Say hi."), PromptItem("p1", "Count to three.", system="Be brief.")]
    k = len(rewards[0])
    out = GenerationOutput(
        items=items,
        responses=[[f"{it.sample_id} answer {j}" for j in range(k)] for it in items],
        rewards=torch.tensor(rewards),
        tokens=torch.zeros(2, k, 4, dtype=torch.long),
        trace={},
        entropy_map=torch.zeros(2, 3, 4),
    )
    folder.mkdir(parents=True, exist_ok=True)
    write_generations(folder, to_records(out, "entrgi", seed))
    return folder


def best_of(rows):
    return {r["sample_id"]: r for r in rows}


def test_best_mode_picks_the_highest_reward_response(tmp_path):
    run = write_run(tmp_path / "run")
    path, export = write_export(run)
    assert path == run / EXPORT
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == export.rows and len(rows) == 2 and export.skipped == 0
    by_id = best_of(rows)
    assert by_id["p0"]["completion"] == [{"role": "assistant", "content": "p0 answer 1"}]
    assert by_id["p1"]["completion"] == [{"role": "assistant", "content": "p1 answer 2"}]
    assert by_id["p0"]["reward"] == pytest.approx(0.9) and by_id["p1"]["reward"] == pytest.approx(0.7)
    records = {r["sample_id"]: r for r in read_generations(run)}
    for sid, row in by_id.items():  # the same response as the record's Top@1, the same chat as the judges see
        assert row["completion"][0]["content"] == records[sid]["responses"][records[sid]["best_index"]]
        assert row["prompt"] == record_messages(records[sid])
    assert by_id["p1"]["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Count to three."},
    ]
    assert {(r["run"], r["method"], r["seed"]) for r in rows} == {(".", "entrgi", 1)}
    assert set(rows[0]) == COLUMNS


def test_all_mode_has_a_row_per_finite_trajectory_ranked_by_reward(tmp_path):
    export = export_rows(write_run(tmp_path / "run"), ALL)
    got = {(r["sample_id"], r["k"]): (r["rank"], r["reward"]) for r in export.rows}
    assert {key: rank for key, (rank, _) in got.items()} == {
        ("p0", 1): 0,
        ("p0", 2): 1,
        ("p0", 0): 2,
        ("p1", 2): 0,
        ("p1", 1): 1,  # p1's k=0 has a NaN reward: left out, counted
    }
    assert export.skipped == 1
    for r in export.rows:
        assert r["completion"][0]["content"] == f"{r['sample_id']} answer {r['k']}"
        assert r["reward"] == pytest.approx(REWARDS[int(r["sample_id"][1])][r["k"]])


def test_a_prompt_without_a_finite_reward_is_skipped_and_counted(tmp_path):
    run = write_run(tmp_path / "run", rewards=[[NAN, NAN], [0.3, 0.1]])
    export = export_rows(run, BEST)
    assert [r["sample_id"] for r in export.rows] == ["p1"] and export.skipped == 1
    assert all(math.isfinite(r["reward"]) for r in export.rows)


def test_the_export_loads_as_a_datasets_dataset_with_the_documented_columns(tmp_path):
    from datasets import load_dataset

    run = write_run(tmp_path / "run")
    for mode, extra in ((BEST, set()), (ALL, {"k", "rank"})):
        path, export = write_export(run, mode=mode)
        ds = load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
        assert set(ds.column_names) == COLUMNS | extra
        assert len(ds) == len(export.rows) == (2 if mode == BEST else 5)
        assert ds[0]["prompt"] == export.rows[0]["prompt"] and ds[0]["completion"][0]["role"] == "assistant"


def test_a_sweep_gives_the_rows_of_every_run(tmp_path):
    write_run(tmp_path / "sweep" / "seed=1", seed=1)
    write_run(tmp_path / "sweep" / "seed=2", seed=2)
    write_run(tmp_path / "sweep" / "seed=2" / "overwritten" / "old", seed=3)  # moved aside: not exported
    export = export_rows(tmp_path / "sweep")
    assert sorted((r["run"], r["seed"]) for r in export.rows) == [("seed=1", 1)] * 2 + [("seed=2", 2)] * 2
    assert [p.name for p in export.folders] == ["seed=1", "seed=2"]


def test_a_posttrain_folder_exports_its_training_samples(tmp_path):
    run = tmp_path / "posttrain"
    chat = [{"role": "user", "content": "Say hi."}]
    row = {"seed": 7, "messages": chat, "weights": [0.0, 1.0]}
    append_samples(run, 0, [row | {"step": 0, "sample_id": "a", "responses": ["a0", "a1"], "rewards": [0.2, 0.6]}])
    append_samples(run, 1, [row | {"step": 1, "sample_id": "b", "responses": ["b0", "b1"], "rewards": [0.4, NAN]}])
    export = export_rows(run)
    assert [(r["sample_id"], r["step"], r["completion"][0]["content"]) for r in export.rows] == [
        ("a", 0, "a1"),
        ("b", 1, "b0"),
    ]
    assert all(r["method"] == "posttrain" and r["seed"] == 7 and r["prompt"] == chat for r in export.rows)
    everything = export_rows(run, ALL)
    assert len(everything.rows) == 3 and everything.skipped == 1


def test_a_folder_without_runs_is_an_error_naming_it(tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "notes").mkdir(parents=True)
    with pytest.raises(ExportError, match="holds no generations.jsonl and no train_samples") as err:
        export_rows(empty)
    assert str(empty) in str(err.value)
    with pytest.raises(SystemExit) as exit_:
        main([str(empty)])
    assert exit_.value.code == 2 and str(empty) in capsys.readouterr().err
    assert not (empty / EXPORT).exists()


def test_the_command_writes_the_file_and_says_how_many_rows(tmp_path):
    run = write_run(tmp_path / "run")
    done = subprocess.run(
        [sys.executable, "-m", "entrgi.export", str(run), "--all"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote 5 rows from 1 run folder(s) to {run / EXPORT_ALL}" in done.stdout
    assert "skipped 1 responses" in done.stderr
    rows = [json.loads(line) for line in (run / EXPORT_ALL).read_text().splitlines()]
    assert rows == export_rows(run, ALL).rows
