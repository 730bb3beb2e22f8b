"""Per-batch W&B rows (``wandb_stream``) and their coexistence with the end-of-run ``log_run``."""

import json
import math
import time
from types import SimpleNamespace

import pytest
from wandb_fakes import FakeRun, rec
from wandb_reader import read_records, summarize_run

from entrgi.pipeline.callbacks import wandb_logging as wl
from entrgi.pipeline.callbacks import wandb_stream as ws


class Clock:
    def __init__(self, times):
        self.times = iter(times)

    def __call__(self):
        return next(self.times)


def finished_records(path, timeout_s=20.0):
    """The run file's records once W&B's writer has written all of them: it may still be writing after finish()."""
    deadline, last = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        size = path.stat().st_size
        records = read_records(path)
        if size == last and any(r.WhichOneof("record_type") == "exit" for r in records):
            return records
        last = size
        time.sleep(0.2)
    return read_records(path)


def test_batch_row_means_progress_and_throughput():
    row = ws.batch_row(
        [rec(1.0, 0.5, judge=0.9), rec(3.0, 1.5, judge=0.1)],
        batch_idx=2,
        prompts_done=6,
        prompts_total=8,
        elapsed_s=3.0,
        generated_tokens=120,
    )
    assert row == {
        "batch": 2,
        ws.TOP1: 2.0,
        ws.AVGN: 1.0,
        ws.JUDGE_SCORE: pytest.approx(0.5),
        ws.PROMPTS_DONE: 6,
        ws.FRACTION: 0.75,
        ws.PROMPTS_PER_S: 2.0,
        ws.TOKENS_PER_S: 40.0,
    }


def test_batch_row_without_judge_skips_nan_and_zero_elapsed():
    row = ws.batch_row([rec(1.0, 0.5), rec(float("nan"), None)], 0, 2, 4, 0.0, 10)
    assert row[ws.TOP1] == 1.0 and row[ws.AVGN] == 0.5
    assert ws.JUDGE_SCORE not in row  # not judged: no key rather than NaN
    assert ws.PROMPTS_PER_S not in row and ws.TOKENS_PER_S not in row  # no time has passed
    assert not any(isinstance(v, float) and math.isnan(v) for v in row.values())


def test_batch_logger_counts_batches_prompts_and_tokens_on_its_own_clock():
    run = FakeRun()
    log = ws.BatchLogger(run, prompts_total=3, clock=Clock([10.0, 12.0, 14.0]))
    log([rec(1.0, 0.0), rec(2.0, 1.0)], generated_tokens=64)
    log([rec(4.0, 2.0, judge=1.0)], generated_tokens=32)
    first, second = run.logged
    assert (first["batch"], second["batch"]) == (0, 1)
    assert (first[ws.PROMPTS_DONE], second[ws.PROMPTS_DONE]) == (2, 3)
    assert second[ws.FRACTION] == 1.0
    assert first[ws.PROMPTS_PER_S] == 1.0 and first[ws.TOKENS_PER_S] == 32.0  # 2 prompts, 64 tokens in 2 s
    assert second[ws.PROMPTS_PER_S] == 0.75 and second[ws.TOKENS_PER_S] == 24.0  # 3 prompts, 96 tokens in 4 s
    assert ws.JUDGE_SCORE not in first and second[ws.JUDGE_SCORE] == 1.0
    assert run.log_kwargs == [{}, {}]  # never step=: W&B's _step keeps counting


def test_batch_logger_extrapolates_rank_zero_and_caps_at_total():
    run = FakeRun()
    log = ws.BatchLogger(run, prompts_total=5, world_size=2, clock=Clock([0.0, 1.0, 2.0]))
    log([rec(1.0, 1.0), rec(1.0, 1.0)], generated_tokens=10)
    log([rec(1.0, 1.0)], generated_tokens=5)
    assert [r[ws.PROMPTS_DONE] for r in run.logged] == [4, 5]
    assert run.logged[-1][ws.FRACTION] == 1.0 and run.logged[-1][ws.TOKENS_PER_S] == 15.0


def test_define_metrics_puts_every_key_on_batch_exactly():
    run = FakeRun()
    ws.BatchLogger(run, prompts_total=1)
    assert run.metrics["batch"] is None
    assert run.overwritten == ["*"]  # Lightning's "*" -> trainer/global_step glob released
    assert {k: run.metrics[k] for k in ws.ALL_KEYS} == dict.fromkeys(ws.ALL_KEYS, "batch")
    assert {run.metrics[g] for g in ws.GLOBS} == {"batch"}
    logged = set(ws.batch_row([rec(1.0, 1.0, judge=1.0)], 0, 1, 1, 1.0, 1))
    assert logged - {"batch"} == set(ws.ALL_KEYS)  # the row holds exactly the defined keys


def test_step_curves_log_every_trace_key_under_its_stable_name():
    """Known keys keep their W&B names; any other key (a guidance method's statistic) is ``denoise/<key>``;
    a record without a key, or with nulls, does not count; a step with no value leaves the key out."""
    a = rec(1.0, 1.0, sid="a") | {"trace": {"committed": [4, 2], "w_mean": [0.5, None], "bias_applied": [1.0, 3.0]}}
    b = rec(1.0, 1.0, sid="b") | {"trace": {"committed": [2, 4], "w_mean": [0.25, None], "late": [None, None, 7.0]}}
    rows = wl.step_curves([a, b])
    assert rows == [
        {wl.DENOISE_STEP: 0, "denoise/tokens_committed": 3.0, "denoise/w_mean": 0.375, "denoise/bias_applied": 1.0},
        {wl.DENOISE_STEP: 1, "denoise/tokens_committed": 3.0, "denoise/bias_applied": 3.0},
        {wl.DENOISE_STEP: 2, "denoise/late": 7.0},
    ]
    assert wl.curve_name("entropy_max") == "denoise/entropy_max" and wl.curve_name("guided") == "denoise/guided"
    assert wl.step_curves([]) == [] and wl.step_curves([{"trace": {}}]) == []
    run = FakeRun()
    wl.log_run(run, [a, b], {})
    assert run.metrics["denoise/bias_applied"] == run.metrics["denoise/late"] == wl.DENOISE_STEP


def test_log_run_defines_its_axes_exactly_and_flattens_the_summary():
    run = FakeRun()
    metrics = {
        "top1_reward_mean": 2.0,
        "compute": {"flops": 1e12, "formula": "2NP"},
        "skipped": {"too_long": 1},
        "judge": "oracle",
        "per_prompt": [1, 2],
    }
    wl.log_run(run, [rec(1.0, 0.5, judge=0.9, sid="a"), rec(3.0, 1.0, judge=0.1, sid="b")], metrics)
    assert run.metrics[wl.DENOISE_STEP] is None and run.metrics[wl.PROMPT_INDEX] is None
    assert run.metrics[wl.CURVES["entropy_mean"]] == wl.DENOISE_STEP
    assert run.metrics[wl.PROMPT_TOP1] == run.metrics[wl.PROMPT_JUDGE_SCORE] == wl.PROMPT_INDEX
    assert run.metrics["prompt/judge_correct"] == wl.PROMPT_INDEX
    prompt_rows = [r for r in run.logged if wl.PROMPT_INDEX in r]
    assert [r[wl.PROMPT_JUDGE_SCORE] for r in prompt_rows] == [0.9, 0.1]
    assert [r["prompt/judge_correct"] for r in prompt_rows] == [1.0, 0.0]
    assert wl.GENERATIONS_TABLE in run.logged[-1]
    assert run.summary == {
        "top1_reward_mean": 2.0,
        "compute/flops": 1e12,
        "compute/formula": "2NP",
        "skipped/too_long": 1,
        "judge": "oracle",
    }


def test_offline_run_batch_rows_then_log_run_keep_step_increasing(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(mode="offline", dir=tmp_path, project="entrgi-test", group="g")
    run.define_metric("trainer/global_step")  # what Lightning's WandbLogger defines on first use
    run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
    log = ws.BatchLogger(run, prompts_total=3)
    records = [rec(1.0, 0.5, judge=0.9, sid="a"), rec(2.0, 1.0, judge=0.3, sid="b"), rec(0.0, 0.0, sid="c")]
    log(records[:2], generated_tokens=8)
    log(records[2:], generated_tokens=4)
    wl.log_run(run, records, {"top1_reward_mean": 1.0})
    run.finish()
    (path,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    records = finished_records(path)
    steps = [r.history.step.num for r in records if r.WhichOneof("record_type") == "history"]
    assert steps == list(range(len(steps))) and len(steps) == 2 + 2 + 3 + 1  # batches, curves, prompts, table
    rows = summarize_run(path)["history_rows"]
    assert [json.loads(r["batch"]) for r in rows if "batch" in r] == [0, 1]
    assert json.loads(rows[1][ws.PROMPTS_DONE]) == 3 and json.loads(rows[0][ws.JUDGE_SCORE]) == pytest.approx(0.6)
    assert not any("trainer/global_step" in r for r in rows)  # Lightning's "*" glob claims no row
    axes = {
        r.metric.name: r.metric.step_metric
        for r in records
        if r.WhichOneof("record_type") == "metric" and r.metric.name
    }
    assert {k: axes[k] for k in ws.ALL_KEYS} == dict.fromkeys(ws.ALL_KEYS, "batch")
    assert axes[wl.CURVES["w_mean"]] == wl.DENOISE_STEP and axes[wl.PROMPT_AVGN] == wl.PROMPT_INDEX


def test_batch_logger_factory_only_on_rank_zero_with_wandb():
    assert ws.batch_logger(SimpleNamespace(is_global_zero=False, loggers=[]), 4) is None
    assert ws.batch_logger(SimpleNamespace(is_global_zero=True, loggers=[]), 4) is None
    other = SimpleNamespace(experiment=FakeRun())  # not a WandbLogger
    assert ws.batch_logger(SimpleNamespace(is_global_zero=True, loggers=[other], world_size=1), 4) is None
