"""Each skipped prompt row is logged with its file and line (JSONL) or row index; the counts stay as they were."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from entrgi.data import PromptSource
from entrgi.data.rows import LOGGED_PER_REASON


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")


def skipped_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]


def test_jsonl_rows_are_named_by_line(tmp_path, caplog):
    path = tmp_path / "prompts.jsonl"
    lines = [
        json.dumps({"id": "g1", "prompt": "good"}),
        "",  # a blank line is no row: the lines below are not off by one
        json.dumps({"id": "b1", "text": "no prompt"}),
        '{"id": "b2", "prompt": "unterminated',
        json.dumps({"id": "b3", "prompt": "  "}),
        json.dumps({"id": "g2", "prompt": "good too"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        loaded = PromptSource(str(path), id_field="id").load()
    assert [it.sample_id for it in loaded.items] == ["g1", "g2"]
    assert loaded.skipped == {"missing_prompt": 1, "broken_json_line": 1, "empty_prompt": 1}
    assert skipped_lines(caplog) == [
        f"data.path={str(path)!r}, line 3, row 1 (sample 'b1'): skipped, missing_prompt",
        f"data.path={str(path)!r}, line 4, row 2: skipped, broken_json_line",
        f"data.path={str(path)!r}, line 5, row 3 (sample 'b3'): skipped, empty_prompt",
    ]


def test_parquet_rows_are_named_by_row_index(tmp_path, caplog):
    path = tmp_path / "prompts.parquet"
    pq.write_table(pa.table({"prompt": ["good", None, "", "fine"]}), path)
    with caplog.at_level(logging.WARNING):
        loaded = PromptSource(str(path)).load()
    assert loaded.skipped == {"missing_prompt": 1, "empty_prompt": 1}
    assert skipped_lines(caplog) == [
        f"data.path={str(path)!r}, row 1 (sample 'prompts-1'): skipped, missing_prompt",
        f"data.path={str(path)!r}, row 2 (sample 'prompts-2'): skipped, empty_prompt",
    ]


def test_the_first_few_per_reason_then_a_count(tmp_path, caplog):
    path = tmp_path / "many.jsonl"
    n = LOGGED_PER_REASON + 3
    path.write_text("".join(json.dumps({"prompt": ""}) + "\n" for _ in range(n)) + '{"prompt": "x"}\n')
    with caplog.at_level(logging.WARNING):
        loaded = PromptSource(str(path)).load()
    assert loaded.skipped == {"empty_prompt": n} and len(loaded.items) == 1
    logged = skipped_lines(caplog)
    assert len(logged) == LOGGED_PER_REASON + 1
    assert logged[0].endswith("line 1, row 0 (sample 'many-0'): skipped, empty_prompt")
    assert logged[-1] == f"data.path={str(path)!r}: 3 more rows skipped, empty_prompt ({n} in all)"


def test_an_empty_file_is_logged_with_its_name(tmp_path, caplog):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n \n")
    with caplog.at_level(logging.WARNING):
        assert PromptSource(str(path)).load().skipped == {"empty_file": 1}
    assert skipped_lines(caplog) == [f"data.path={str(path)!r} is empty: skipped, empty_file"]


def test_a_line_separator_inside_a_string_is_no_line_break(tmp_path):
    """JSON strings may hold U+2028 and U+0085 raw; only \\n ends a JSONL line (as datasets reads it)."""
    path = tmp_path / "unicode.jsonl"
    prompts = ["one\u2028two", "three\x85four", "five"]
    path.write_text("".join(json.dumps({"prompt": p}, ensure_ascii=False) + "\n" for p in prompts), encoding="utf-8")
    loaded = PromptSource(str(path)).load()
    assert [it.prompt for it in loaded.items] == prompts and loaded.skipped == {}
    PromptSource(str(path), on_invalid="error").load()  # no line is broken
