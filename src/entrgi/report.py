"""``python -m entrgi.report PATH [--prompt SAMPLE_ID] [--no-plots] [--no-wandb]``: tables and plots of a run or sweep.

Runs are grouped by every config key that varies across them except the seed (and paths,
loggers, judges); each group's metrics are averaged over its runs (seeds), mean ± SEM. Writes
into PATH: ``report.md`` (the answer first), ``report.csv``, ``paired.csv`` and ``plots/`` (frontier.png,
soft_reward.png, entropy_w.png, w_hist.png, heatmap_<sample_id>.png, denoising.gif); prints the answer; logs
the report to W&B when the runs were logged there. In a notebook::

    from entrgi import report
    rep = report.load("multirun/2025-01-01/12-00-00")
    rep.rows                # one flat dict per group
    rep.plot_frontier()     # a matplotlib Figure
"""

from __future__ import annotations

import argparse
from pathlib import Path

from entrgi.analysis.report import Report, ReportError, load, run_report
from entrgi.outputs.files import REPORT_CSV, REPORT_MD

__all__ = ["Report", "ReportError", "load", "main"]


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(
        prog="python -m entrgi.report",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder", type=Path, help="a run folder (outputs/...) or a sweep folder (multirun/...)")
    parser.add_argument(
        "--prompt",
        metavar="SAMPLE_ID",
        help="the prompt of the heatmap and the GIF (default: the first one the runs share)",
    )
    parser.add_argument("--no-plots", action="store_true", help=f"tables only ({REPORT_MD}, {REPORT_CSV})")
    parser.add_argument("--plot", action="store_true", help=argparse.SUPPRESS)  # old flag: plots are the default
    parser.add_argument("--no-wandb", action="store_true", help="do not log the report to W&B")
    args = parser.parse_args(argv)
    try:
        return run_report(args.folder, sample_id=args.prompt, plots=not args.no_plots, to_wandb=not args.no_wandb)
    except ReportError as err:
        parser.error(str(err))


if __name__ == "__main__":
    main()
