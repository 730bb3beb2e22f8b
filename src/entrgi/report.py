"""``python -m entrgi.report FOLDER [--plot]``: a table (and plots) from a run or sweep folder.

Writes ``report.md`` (and ``entropy_curves.png`` with --plot) into FOLDER and prints the table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from entrgi.eval.aggregate import aggregate, find_runs, markdown_table


def plot_entropy_curves(root: Path, out: Path) -> Path:
    """Mean normalized entropy per denoising step, one line per method (runs pooled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[str, list[list[float]]] = {}
    for gen in sorted(root.rglob("generations.jsonl")):
        for line in gen.read_text().splitlines():
            r = json.loads(line)
            curves.setdefault(r["method"], []).append([v if v is not None else float("nan")
                                                        for v in r["trace"]["entropy_mean"]])
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, rows in sorted(curves.items()):
        steps = len(rows[0])
        mean = [sum(r[t] for r in rows if r[t] == r[t]) / max(1, sum(1 for r in rows if r[t] == r[t]))
                for t in range(steps)]
        ax.plot(range(steps), mean, label=method)
    ax.set_xlabel("denoising step")
    ax.set_ylabel("mean H / log V at masked positions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m entrgi.report", description=__doc__)
    parser.add_argument("folder", type=Path, help="a run folder (outputs/...) or a sweep folder (multirun/...)")
    parser.add_argument("--plot", action="store_true", help="also write entropy_curves.png")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    runs = find_runs(args.folder)
    if not runs:
        parser.error(f"no metrics.json under {args.folder}: is it an entrgi output folder?")
    table = markdown_table(aggregate(runs))
    (args.folder / "report.md").write_text(table + "\n")
    if args.plot:
        plot_entropy_curves(args.folder, args.folder / "entropy_curves.png")
    print(table)
    return table


if __name__ == "__main__":
    main()
