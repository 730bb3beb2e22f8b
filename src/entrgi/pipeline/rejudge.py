"""Re-judging finished runs in place (``python -m entrgi.judge``, whose ``main`` parses the command line).

Every ``generations.jsonl`` under the folder is scored by the chosen judge (composed from the
package's ``run`` config, so ``judge=reward_model judge.path=...`` means what it means for
``entrgi.run``); each record gets ``judge``, ``judge_all`` and ``judge_name`` (nothing else
changes) and the run's ``metrics.json`` gets fresh ``judge`` / ``judge_*`` keys
(``outputs/metrics.with_judge``). Both files are rewritten atomically; a torn last line of
``generations.jsonl`` is skipped and left out of the rewrite (``outputs/jsonl.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from entrgi.judges.apply import judge_records, judge_summary
from entrgi.outputs.files import GENERATIONS, METRICS, RunFolderError, find_run_folders
from entrgi.outputs.generations import read_generations, write_generations
from entrgi.outputs.identity import judge_identity
from entrgi.outputs.metrics import has_metrics, read_metrics, with_judge, write_metrics

PROMPTS_PER_CALL = 64  # records handed to the judge at once (it batches further by judge.batch_size)
JUDGED_FIELDS = ("sample_id", "prompt", "responses", "best_index")  # what a record needs to be judged
_JUDGE_OVERRIDE = re.compile(r"^(\+\+|\+|~)?judge([.=]|$)")
CHOOSE = "judge=oracle (testbed runs), judge=reward_model judge.path=... or judge=lmunit"


def check_overrides(overrides: list[str]) -> None:
    """Only judge overrides, and one of them names the judge (SystemExit saying what to pass otherwise)."""
    bad = [o for o in overrides if not _JUDGE_OVERRIDE.match(o)]
    if bad:
        raise SystemExit(
            f"entrgi.judge takes only judge overrides (judge=NAME, judge.KEY=VALUE); not {bad}. "
            "Re-judging never changes how a run generated; rerun entrgi.run for other settings."
        )
    if not any(re.match(r"^judge=", o) for o in overrides):
        raise SystemExit(f"name the judge: {CHOOSE}")


def compose_judge(overrides: list[str]):
    """The judge of ``judge=...`` overrides composed onto the package's ``run`` config."""
    with initialize_config_module(config_module="entrgi.conf", version_base="1.3"):
        cfg = compose("run", overrides=overrides)
    if not cfg.get("judge") or "_target_" not in cfg.judge:
        raise SystemExit(f"judge=none: nothing to score; choose {CHOOSE}")
    judge = instantiate(cfg.judge)
    judge.identity = judge_identity(OmegaConf.to_container(cfg.judge, resolve=True))  # metrics.json run.judge
    return judge


def folders_to_judge(folder: Path) -> list[Path]:
    """Folders under ``folder`` (itself included) that hold a ``generations.jsonl``."""
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder; pass a run folder (paths.output_dir) or a sweep folder")
    runs = find_run_folders(folder, GENERATIONS)
    if not runs:
        raise SystemExit(
            f"no {GENERATIONS} under {folder}: pass a finished run's folder (paths.output_dir) "
            "or a sweep folder holding such runs"
        )
    return runs


def judge_run(run_dir: Path, judge) -> tuple[int, dict]:
    """Judge one run folder in place; returns the number of prompts and the judge summary (the
    keys written to metrics.json)."""
    try:
        records = read_generations(run_dir, JUDGED_FIELDS)
    except RunFolderError as err:
        raise SystemExit(str(err)) from None
    for start in range(0, len(records), PROMPTS_PER_CALL):
        judge_records(records[start : start + PROMPTS_PER_CALL], judge)
    write_generations(run_dir, records)
    summary = judge_summary(records)
    if has_metrics(run_dir):
        write_metrics(run_dir, with_judge(read_metrics(run_dir), summary, getattr(judge, "identity", None)))
    return len(records), summary


def rejudge(folder: Path, overrides: list[str]) -> int:
    """Judge every run under ``folder`` with the judge of ``overrides``, printing one line per run."""
    check_overrides(overrides)
    runs = folders_to_judge(folder)  # before loading the judge's weights
    judge = compose_judge(overrides)
    for run_dir in runs:
        n, summary = judge_run(run_dir, judge)
        shown = ("judge_score_mean", "judge_score_avgN_mean")
        means = ", ".join(f"{k}={summary[k]:.4f}" for k in shown if k in summary)
        note = "" if has_metrics(run_dir) else f" (no {METRICS} to update)"
        print(f"{run_dir}: {n} prompts judged by {judge.name}: {means or 'no scores'}{note}")
    return 0
