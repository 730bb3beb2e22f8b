"""Re-judging finished runs in place (``python -m entrgi.judge``, whose ``main`` parses the command line).

Every ``generations.jsonl`` under the folder is scored by the chosen judge (composed from the
package's ``run`` config, so ``judge=reward_model judge.path=...`` means what it means for
``entrgi.run``). Judgements accumulate: each record's ``judges`` gets this judge's block (added, or
replacing its own earlier one; other judges' blocks, an old flat judgement among them, are kept)
and ``judge``, ``judge_all`` and ``judge_name`` become this judge's (nothing else changes); the run's
``metrics.json`` gets this judge's block of ``judges`` and fresh flat ``judge`` / ``judge_*`` keys
(``outputs/metrics.with_judge``). Both files are rewritten atomically; a torn last line of
``generations.jsonl`` is skipped and left out of the rewrite (``outputs/jsonl.py``). A judge that is
a run's guidance reward model (its saved ``config.yaml``'s ``reward.path``) is refused before the
judge loads, unless ``judge.allow_guidance_reward=true`` (``judges/held_out.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from entrgi.judges.apply import judge_records, judge_summary
from entrgi.judges.held_out import check_held_out_judge
from entrgi.outputs.files import GENERATIONS, METRICS, RunFolderError, find_run_folders
from entrgi.outputs.generations import read_generations, write_generations
from entrgi.outputs.identity import judge_identity
from entrgi.outputs.metrics import has_metrics, read_metrics, with_judge, write_metrics
from entrgi.outputs.settings import has_config, read_config
from entrgi.pipeline.hub_check import check_hub_paths

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


def compose_judge_config(overrides: list[str]) -> dict:
    """The ``judge`` node of ``judge=...`` overrides composed onto the package's ``run`` config (resolved)."""
    with initialize_config_module(config_module="entrgi.conf", version_base="1.3"):
        cfg = compose("run", overrides=overrides)
    if not cfg.get("judge") or "_target_" not in cfg.judge:
        raise SystemExit(f"judge=none: nothing to score; choose {CHOOSE}")
    check_hub_paths(cfg, {"judge.path": "model"})  # an uncached hub id offline: one line, at once
    return OmegaConf.to_container(cfg.judge, resolve=True)


def build_judge(judge_cfg: dict):
    """The judge of a composed ``judge`` node, with its ``identity`` (metrics.json's ``run.judge``)."""
    judge = instantiate(judge_cfg)
    judge.identity = judge_identity(judge_cfg)
    return judge


def compose_judge(overrides: list[str]):
    """The judge of ``judge=...`` overrides composed onto the package's ``run`` config."""
    return build_judge(compose_judge_config(overrides))


def run_reward(run_dir: Path) -> dict | None:
    """The ``reward`` node a run was guided by: its ``config.yaml``'s, else ``{"path": ...}`` from
    ``metrics.json``'s run identity (``reward``); None when the folder records neither."""
    try:
        if has_config(run_dir):
            reward = read_config(run_dir).get("reward")
            return reward if isinstance(reward, dict) else None
        if has_metrics(run_dir):
            identity = read_metrics(run_dir).get("run")
            if isinstance(identity, dict) and identity.get("reward") is not None:
                return {"path": identity["reward"]}
    except RunFolderError as err:
        raise SystemExit(str(err)) from None
    return None


def check_held_out(runs: list[Path], judge_cfg: dict) -> None:
    """SystemExit when the judge is any run's guidance reward model and ``judge.allow_guidance_reward``
    is not true (``judges/held_out.py``); before the judge loads and before any file is rewritten."""
    for run_dir in runs:
        try:
            check_held_out_judge(judge_cfg, run_reward(run_dir), where=f"{run_dir}: ")
        except ValueError as err:
            raise SystemExit(str(err)) from None


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
    judge_cfg = compose_judge_config(overrides)
    check_held_out(runs, judge_cfg)
    judge = build_judge(judge_cfg)
    for run_dir in runs:
        n, summary = judge_run(run_dir, judge)
        shown = ("judge_score_mean", "judge_score_avgN_mean")
        means = ", ".join(f"{k}={summary[k]:.4f}" for k in shown if k in summary)
        note = "" if has_metrics(run_dir) else f" (no {METRICS} to update)"
        print(f"{run_dir}: {n} prompts judged by {judge.name}: {means or 'no scores'}{note}")
    return 0
