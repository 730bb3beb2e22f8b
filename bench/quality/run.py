"""Quality benchmark on the embedded testbed: BoN, Expectation, APS and EntRGi with the shipped models.

It is the product's own sweep, not a separate evaluator: one Hydra multirun of ``python -m
entrgi.run`` over ``guidance`` x ``seed`` on the testbed defaults (model, reward, schedule,
guidance hyper-parameters as in ``conf/``), then the runs read and grouped by ``entrgi.report.load``
(the rows ``python -m entrgi.report`` prints; here a few of their columns). Per run: reward-model Top@1
(max over K) and Avg@N (mean over K), the oracle total and grammaticality of the Top@1 response,
each a mean over prompts; per method: mean ± SEM over seeds. ``data.source.seed`` follows ``seed``, so
each seed draws its own prompts and keys its own sampler.

    python bench/quality/run.py                              # 64 prompts x seeds 1 2 3, K=4
    python bench/quality/run.py --prompts 8 --seeds 1 --out /tmp/q   # a quick look

Writes ``results.json`` and ``results.md`` into --out (default: this folder); the runs
themselves (generations, traces) go to --workdir (default: multirun/bench_quality, ignored by git).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from entrgi import report
from entrgi.analysis.runs import Run
from entrgi.outputs.settings import read_config

METHODS = ("bon", "expectation", "aps", "entrgi")
COLUMNS = (  # of the report's rows, in results.json / results.md
    "top1_reward_mean",
    "avgN_reward_mean",
    "judge_oracle_total_mean",
    "judge_grammatical_mean",
    "generation_wall_s",
)


def sweep_command(args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "entrgi.run",
        "-m",
        f"guidance={','.join(args.methods)}",
        f"seed={','.join(map(str, args.seeds))}",
        f"data.limit={args.prompts}",
        f"data.batch_size={args.batch_size}",
        f"samples_per_prompt={args.samples_per_prompt}",
        "logger=none",
        "save_entropy_maps=false",
        "experiment_name=bench_quality",
        f"hydra.sweep.dir={args.workdir}",
        *args.overrides,
    ]


def settings_of(runs: list[Run]) -> dict:
    """The schedule and each method's guidance hyper-parameters, read back from the runs' saved configs."""
    settings: dict = {"guidance": {}}
    for run in runs:
        cfg = read_config(run.dir)
        settings.setdefault("schedule", cfg["schedule"])
        settings.setdefault("samples_per_prompt", cfg["samples_per_prompt"])
        settings.setdefault("prompts", cfg["data"]["limit"])
        guidance = dict(cfg["guidance"])
        guidance.pop("_target_", None)
        settings["guidance"].setdefault(run.method, guidance)
    return settings


def method_rows(rep: report.Report) -> list[dict]:
    """One row per group of the report (here: per method): runs, seeds and [mean, SEM] of each of COLUMNS."""
    rows = []
    for row in rep.rows:
        out = {"method": row["group"], "runs": row["runs"], "seeds": row["seeds"]}
        rows.append(out | {c: (row[c], row[f"{c}_sem"]) for c in COLUMNS if row.get(c) is not None})
    return rows


def markdown_table(rows: list[dict]) -> str:
    present = [m for m in COLUMNS if any(m in r for r in rows)]
    lines = ["| method | runs | " + " | ".join(present) + " |", "|" + "---|" * (2 + len(present))]
    for r in rows:
        cells = []
        for m in present:
            if m not in r:
                cells.append("")
            else:
                mean, sem = r[m]
                cells.append(f"{mean:.3f}" if math.isnan(sem) else f"{mean:.3f} ± {sem:.3f}")
        lines.append(f"| {r['method']} | {r['runs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--samples-per-prompt", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per predict batch")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("--workdir", type=Path, default=Path("multirun/bench_quality"))
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. schedule.steps=32")
    args = parser.parse_args()
    if args.workdir.exists() and any(args.workdir.iterdir()):
        parser.error(f"--workdir {args.workdir} is not empty; remove it or pass another one")

    command = sweep_command(args)
    print("$", shlex.join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, env=os.environ | {"WANDB_MODE": "disabled"})
    wall_s = time.perf_counter() - start

    rep = report.load(args.workdir)
    expected = len(args.methods) * len(args.seeds)
    if len(rep.runs) != expected:
        raise SystemExit(f"expected {expected} runs under {args.workdir}, found {len(rep.runs)}")
    rows = method_rows(rep)
    results = {
        "command": "python bench/quality/run.py " + shlex.join(sys.argv[1:]),
        "sweep": shlex.join(command[1:]),
        "settings": settings_of(rep.runs),
        "rows": rows,  # metric: [mean, sem]
        "total_wall_s": round(wall_s, 1),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "torch": torch.__version__,
    }
    s = results["settings"]
    sched = s["schedule"]
    header = (
        f"Testbed, K={s['samples_per_prompt']}, {s['prompts']} prompts x seeds {args.seeds}, "
        f"T={sched['steps']}, {sched['max_new_tokens']} tokens, tau={sched['temperature']}, "
        f"top_p={sched['top_p']}, alg={sched['alg']}; guided methods M="
        f"{s['guidance'].get('entrgi', {}).get('inner_steps')}, eta={s['guidance'].get('entrgi', {}).get('lr')}. "
        f"Mean ± SEM over seeds (each run a mean over its prompts); generation_wall_s per run. "
        f"Whole sweep {wall_s / 60:.1f} min on {os.cpu_count()} CPU cores."
    )
    table = header + "\n\n" + markdown_table(rows) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
