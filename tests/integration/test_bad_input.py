"""Thirteen kinds of bad prompt input x data.on_invalid=skip|error, through the whole pipeline.

Each file holds two good prompts and one bad thing. ``error`` ends in an error naming the file
(and the line or row, or the sample) and the field, before any model loads; ``skip`` runs the
good prompts exactly once and counts the bad row by kind in metrics.json. Kinds a prompt can
legitimately be (control characters, unicode) run in both modes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hydra import compose, initialize_config_module

from entrgi.pipeline import phases as pipeline

GOOD = [{"id": "g1", "prompt": "tell me about food ."}, {"id": "g2", "prompt": "describe weather ."}]
LONG = "food " * 76_000  # 380,000 characters, far past the testbed dLLM's context

# kind -> (rows or raw text, skip: counted kinds or None when it runs, error: regex or None when it runs)
CASES = {
    "missing_field": ([{"id": "b", "text": "x"}], {"missing_prompt": 1}, r"row 2 \(sample 'b'\).*missing_prompt"),
    "empty": ([{"id": "b", "prompt": ""}], {"empty_prompt": 1}, r"sample 'b'.*empty_prompt"),
    "whitespace": ([{"id": "b", "prompt": " \n\t "}], {"empty_prompt": 1}, r"sample 'b'.*empty_prompt"),
    "non_string": ([{"id": "b", "prompt": 7}], {"non_string_prompt": 1}, r"sample 'b'.*non_string_prompt"),
    "null": ([{"id": "b", "prompt": None}], {"missing_prompt": 1}, r"sample 'b'.*missing_prompt"),
    "list": ([{"id": "b", "prompt": ["a", "list"]}], {"non_string_prompt": 1}, r"sample 'b'.*non_string_prompt"),
    "too_long": ([{"id": "b", "prompt": LONG}], {"too_long": 1}, r"sample 'b' does not fit the dLLM context"),
    "control_chars": ([{"id": "b", "prompt": "food \x00\x07\x1b[31m ."}], None, None),
    "unicode": ([{"id": "b", "prompt": "食べ物 🍜 über café ."}], None, None),
    "duplicate_ids": ([{"id": "g1", "prompt": "music ."}], "error", r"data\.id_field='id' is not unique"),
    "broken_json_line": (
        '{"id": "b", "prompt": "unterminated\n',
        {"broken_json_line": 1},
        r"prompts\.jsonl', line 3: not valid JSON",
    ),
    "empty_file": ("", {"empty_file": 1}, r"prompts\.jsonl' is empty"),
    "parquet_wrong_type": ("parquet", {"non_string_prompt": 3}, r"prompts\.parquet', row 0 .*non_string_prompt"),
}


def write_data(folder: Path, kind: str) -> Path:
    rows, _, _ = CASES[kind]
    if rows == "parquet":
        path = folder / "prompts.parquet"
        pq.write_table(pa.table({"id": ["a", "b", "c"], "prompt": [1, 2, 3]}), path)
        return path
    path = folder / "prompts.jsonl"
    if isinstance(rows, str):
        good = "".join(json.dumps(r) + "\n" for r in GOOD) if rows else ""
        path.write_text(good + rows)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in GOOD + rows))
    return path


def config(path: Path, on_invalid: str, out: Path):
    with initialize_config_module("entrgi.conf", version_base="1.3"):
        return compose(
            "run",
            [
                "data=jsonl",
                f"data.path={path}",
                "data.id_field=id",
                f"data.on_invalid={on_invalid}",
                "schedule.steps=2",
                "schedule.max_new_tokens=4",
                "samples_per_prompt=1",
                "logger=none",
                "save_entropy_maps=false",
                f"paths.output_dir={out}",
            ],
        )


def test_thirteen_kinds():
    assert len(CASES) == 13


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("on_invalid", ["skip", "error"])
def test_bad_input(tmp_path, kind, on_invalid, monkeypatch):
    _, skipped, error = CASES[kind]
    path = write_data(tmp_path, kind)
    out = tmp_path / "run"
    cfg = config(path, on_invalid, out)
    expect_error = error is not None and (on_invalid == "error" or skipped == "error")
    if expect_error:
        if kind != "too_long":  # the only kind that needs the dLLM's tokenizer to be told apart
            monkeypatch.setattr(pipeline, "instantiate", _no_model_loads(pipeline.instantiate))
        with pytest.raises(ValueError, match=error) as err:
            pipeline.run(cfg)
        assert str(path.name) in str(err.value) or "sample 'b'" in str(err.value) or "id_field" in str(err.value)
        assert not (out / "generations.jsonl").exists()
        return
    metrics = pipeline.run(cfg)
    records = (
        [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
        if (out / "generations.jsonl").exists()
        else []
    )
    ids = [r["sample_id"] for r in records]
    assert len(ids) == len(set(ids)) == metrics["num_prompts"]  # nothing duplicated
    if skipped is None:  # a legitimate prompt: all three run
        assert ids == ["g1", "g2", "b"] and metrics["skipped"] == {}
    elif kind in ("empty_file", "parquet_wrong_type"):  # nothing left to run: said so, no model loaded
        assert ids == [] and metrics["num_prompts"] == 0 and metrics["skipped"] == skipped
    else:
        assert ids == ["g1", "g2"] and metrics["skipped"] == skipped  # nothing lost


def _no_model_loads(instantiate):
    """Fail the test if a model group is instantiated: bad input must be refused before that."""

    def guarded(node, *args, **kwargs):
        target = str(node.get("_target_", "")) if hasattr(node, "get") else ""
        if "load_dllm" in target or "load_reward" in target:
            raise AssertionError(f"a model loaded before the bad input was refused: {target}")
        return instantiate(node, *args, **kwargs)

    return guarded
