"""Re-judge finished runs: ``python -m entrgi.judge RUN_OR_SWEEP_DIR judge=NAME [judge.KEY=VALUE ...]``.

Every ``generations.jsonl`` under the folder is scored by the chosen judge (composed from the
package's ``run`` config, so ``judge=reward_model judge.path=...`` means what it means for
``entrgi.run``); each record gets ``judge``, ``judge_all`` and ``judge_name`` (nothing else
changes) and the run's ``metrics.json`` gets fresh ``judge`` / ``judge_*`` keys. Files are
rewritten atomically. Examples::

    python -m entrgi.judge outputs/2025-01-01/12-00-00 judge=oracle
    python -m entrgi.judge multirun/2025-01-01/12-00-00 judge=reward_model \
        judge.path=Skywork/Skywork-Reward-V2-Llama-3.1-8B
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.utils import instantiate
from omegaconf import OmegaConf

from entrgi.analysis.identity import judge_name
from entrgi.analysis.runs import run_folders
from entrgi.judges.apply import judge_records, judge_summary

GENERATIONS = "generations.jsonl"
METRICS = "metrics.json"
PROMPTS_PER_CALL = 64  # records handed to the judge at once (it batches further by judge.batch_size)
_JUDGE_OVERRIDE = re.compile(r"^(\+\+|\+|~)?judge([.=]|$)")
_CHOOSE = "judge=oracle (testbed runs), judge=reward_model judge.path=... or judge=lmunit"


def _parse(argv: list[str] | None) -> tuple[Path, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m entrgi.judge", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a run folder (paths.output_dir) or a sweep folder holding runs")
    parser.add_argument("overrides", nargs="*", help="judge=NAME and judge.KEY=VALUE overrides")
    args = parser.parse_args(argv)
    bad = [o for o in args.overrides if not _JUDGE_OVERRIDE.match(o)]
    if bad:
        raise SystemExit(
            f"entrgi.judge takes only judge overrides (judge=NAME, judge.KEY=VALUE); not {bad}. "
            "Re-judging never changes how a run generated; rerun entrgi.run for other settings."
        )
    if not any(re.match(r"^judge=", o) for o in args.overrides):
        raise SystemExit(f"name the judge: {_CHOOSE}")
    return args.folder, args.overrides


def build_judge(overrides: list[str]):
    """The judge of ``judge=...`` overrides composed onto the package's ``run`` config."""
    with initialize_config_module(config_module="entrgi.conf", version_base="1.3"):
        cfg = compose("run", overrides=overrides)
    if not cfg.get("judge") or "_target_" not in cfg.judge:
        raise SystemExit(f"judge=none: nothing to score; choose {_CHOOSE}")
    judge = instantiate(cfg.judge)
    judge.identity = judge_name(OmegaConf.to_container(cfg.judge, resolve=True))  # metrics.json run.judge
    return judge


def find_runs(folder: Path) -> list[Path]:
    """Folders under ``folder`` (itself included) that hold a ``generations.jsonl``."""
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder; pass a run folder (paths.output_dir) or a sweep folder")
    runs = run_folders(folder, GENERATIONS)
    if not runs:
        raise SystemExit(
            f"no {GENERATIONS} under {folder}: pass a finished run's folder (paths.output_dir) "
            "or a sweep folder holding such runs"
        )
    return runs


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _read_records(path: Path) -> list[dict]:
    records = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise SystemExit(
                f"{path} line {n} is not JSON ({e}); was the run killed while writing? Finish it with resume=true first"
            ) from None
        for key in ("prompt", "responses", "best_index"):
            if key not in records[-1]:
                raise SystemExit(f"{path} line {n} has no {key!r} field; is it an entrgi generations file?")
    return records


def judge_run(run_dir: Path, judge) -> tuple[int, dict]:
    """Judge one run folder in place; returns the number of prompts and the judge summary (the
    keys written to metrics.json)."""
    path = run_dir / GENERATIONS
    records = _read_records(path)
    for start in range(0, len(records), PROMPTS_PER_CALL):
        judge_records(records[start : start + PROMPTS_PER_CALL], judge)
    _write_atomic(path, "".join(json.dumps(r) + "\n" for r in records))
    summary = judge_summary(records)
    metrics_path = run_dir / METRICS
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text())
        metrics = {k: v for k, v in metrics.items() if k != "judge" and not k.startswith("judge_")} | summary
        if isinstance(metrics.get("run"), dict) and getattr(judge, "identity", None):
            metrics["run"] = metrics["run"] | {"judge": judge.identity}  # the run's identity names its new judge
        _write_atomic(metrics_path, json.dumps(metrics, indent=2) + "\n")
    return len(records), summary


def main(argv: list[str] | None = None) -> int:
    folder, overrides = _parse(sys.argv[1:] if argv is None else argv)
    runs = find_runs(folder)  # before loading the judge's weights
    judge = build_judge(overrides)
    for run_dir in runs:
        n, summary = judge_run(run_dir, judge)
        shown = ("judge_score_mean", "judge_score_avgN_mean")
        means = ", ".join(f"{k}={summary[k]:.4f}" for k in shown if k in summary)
        note = "" if (run_dir / METRICS).exists() else f" (no {METRICS} to update)"
        print(f"{run_dir}: {n} prompts judged by {judge.name}: {means or 'no scores'}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
