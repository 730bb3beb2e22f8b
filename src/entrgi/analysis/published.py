"""The paper's published Top@1 (REFERENCE.md: Dream-7B + Skywork-Reward-V2-Qwen3-1.7B, K=4, T=128, tau 0.7,
64 prompts, seeds 1-3), set beside a ``+experiment=paper_main`` sweep's own so whoever runs it sees at once
whether it reproduced the paper."""

from __future__ import annotations

import math

from entrgi.analysis.runs import Run
from entrgi.analysis.stats import mean_sem

EXPERIMENT = "paper_main"
PUBLISHED_TOP1 = {  # benchmark (data.path) -> method -> Top@1
    "allenai/reward-bench-2": {"entrgi": 3.91, "bon": 2.99},
    "ScalerLab/JudgeBench": {"entrgi": 2.44, "bon": 1.65},
    "THU-KEG/RM-Bench": {"entrgi": 5.70, "bon": 5.11},
}
BENCHMARK_NAMES = {
    "allenai/reward-bench-2": "Reward-Bench-2",
    "ScalerLab/JudgeBench": "JudgeBench",
    "THU-KEG/RM-Bench": "RM-Bench",
}


def _benchmark(run: Run) -> str | None:
    path = str(run.config.get("data.path") or (run.metrics.get("run") or {}).get("dataset") or "")
    return next((b for b in PUBLISHED_TOP1 if b.lower() == path.lower()), None)


def paper_section(runs: list[Run], rows: list[dict]) -> list[str]:
    """benchmark | method | measured Top@1 (mean ± SEM over seeds) | paper | measured - paper, for each
    (benchmark, method) the paper published and the folder ran; [] unless the runs are ``paper_main``."""
    if not any(r.config.get("experiment_name") == EXPERIMENT for r in runs):
        return []
    cells: dict[tuple[str, str], list[float]] = {}
    for run in runs:
        bench, top1 = _benchmark(run), run.metrics.get("top1_reward_mean")
        if bench and run.method in PUBLISHED_TOP1[bench] and isinstance(top1, (int, float)) and math.isfinite(top1):
            cells.setdefault((bench, run.method), []).append(float(top1))
    if not cells:
        return [
            "This is a `paper_main` run, but none of its runs is a published (benchmark, method) pair: "
            f"the paper published {', '.join(BENCHMARK_NAMES.values())} for EntRGi and BoN."
        ]
    lines = ["| benchmark | method | measured Top@1 | paper Top@1 | measured − paper |", "|---|---|---|---|---|"]
    for (bench, method), values in sorted(cells.items()):
        n = len(values)
        mean, sem = mean_sem(values)
        paper = PUBLISHED_TOP1[bench][method]
        measured = f"{mean:.2f}" + ("" if math.isnan(sem) else f" ± {sem:.2f}") + f" ({n} seed{'s' * (n > 1)})"
        lines.append(f"| {BENCHMARK_NAMES[bench]} | {method} | {measured} | {paper:.2f} | {mean - paper:+.2f} |")
    return lines
