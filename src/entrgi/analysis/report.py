"""The report of a run or sweep folder: runs grouped over seeds, tables, plots, W&B (``python -m entrgi.report``,
whose ``main`` parses the command line, calls :func:`run_report`).

Runs are grouped by every config key that varies across them except the seed (and paths,
loggers, judges); each group's metrics are averaged over its runs (seeds), mean ± SEM. Writes
into the folder: ``report.md`` (the answer first: the sweep's constants, one table of at most eight
columns and the findings, then long tables), ``report.csv`` (every group's full wide row), ``paired.csv``
(every paired difference) and ``plots/`` (frontier.png, soft_reward.png, entropy_w.png, w_hist.png,
ess.png, heatmap_<sample_id>.png, denoising.gif).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from entrgi.analysis.aggregate import JUDGE_PREFIX, judge_score_columns
from entrgi.analysis.answer import answer_table, constants_line, findings
from entrgi.analysis.caveats import blank_reasons, front_note, judge_failures, load_warnings, seed_spread
from entrgi.analysis.paired import Comparison, compare_groups, paired_csv
from entrgi.analysis.published import paper_section
from entrgi.analysis.rows import build_rows
from entrgi.analysis.runs import Group, ReportError, Run, group_runs, load_runs
from entrgi.analysis.tables import long_table, to_csv
from entrgi.outputs.atomic import write_text
from entrgi.outputs.files import DENOISING_GIF, GENERATIONS, PAIRED_CSV, PLOTS, REPORT_CSV, REPORT_MD

__all__ = ["Report", "ReportError", "load", "run_report"]
COST_DETAIL = ("wall_s_per_prompt",)  # the costs report.md lists per group; the rest are in report.csv
PROMPT_PLOTS = ("heatmap", "denoising")
GIF_PANELS = 8  # groups shown in the GIF at most (the first, in the tables' order)


@dataclass(kw_only=True)
class Report:
    """Every run under ``root``, grouped over seeds; ``rows`` are the tables' and the CSV's rows."""

    root: Path
    runs: list[Run]
    groups: list[Group]
    axes: list[str]  # config keys the groups differ in (besides the method)
    columns: list[str]  # metric columns of the tables
    rows: list[dict]
    notes: list[str]
    spread: str = ""  # what the ± over seeds holds
    warnings: list[str] = field(default_factory=list)  # read before any number (e.g. very different loads)
    comparisons: list[Comparison] = field(default_factory=list)  # paired differences between groups

    @property
    def seeds(self) -> list:
        return sorted({r.seed for r in self.runs}, key=str)

    def grouped_by(self) -> str:
        axes = (
            ", ".join(["method", *self.axes])
            if len({g.method for g in self.groups}) > 1 or not self.axes
            else ", ".join(self.axes)
        )
        return f"Grouped by: {axes}; averaged over seeds {', '.join(map(str, self.seeds))}"

    def markdown(self, images: list[str] | tuple = ()) -> str:
        """The answer first (constants, the answer table, the findings), then long tables, notes and plots."""
        parts = [f"# Report: {self.root}", "", self.constants(), ""]
        if self.warnings:
            parts += [*(f"**Warning:** {w}" for w in self.warnings), ""]
        parts += ["## Answer", "", self.table(), "", *(f"- {f}" for f in self.findings()), ""]
        paper = paper_section(self.runs, self.rows)
        if paper:
            parts += ["## Against the paper (published Top@1, REFERENCE.md)", "", *paper, ""]
        judges, said = long_table(self.rows, self._judge_detail_columns(), tuple(judge_score_columns(self.rows)))
        if judges or said:
            parts += ["## Judge sub-scores (Top@1 response; mean and SEM over seeds)", ""]
            parts += [*([judges, ""] if judges else []), *(f"- {s}" for s in said), *([""] if said else [])]
        costs, said = long_table(self.rows, [c for c in COST_DETAIL if c in self.columns])
        if costs or said:
            parts += ["## Costs (FLOPs are counted; seconds are timed on this machine)", ""]
            parts += [*([costs, ""] if costs else []), *(f"- {s}" for s in said), *([""] if said else [])]
        parts += ["## Notes", "", f"- {self.spread}" if self.spread else "", *(f"- {n}" for n in self.notes)]
        parts += [f"- Every group's full row: {REPORT_CSV}; every paired difference: {PAIRED_CSV}."]
        if images:
            parts += ["", "## Plots", "", *(f"![{Path(i).stem}]({i})" for i in images)]
        return "\n".join(p for i, p in enumerate(parts) if p or (i and parts[i - 1])) + "\n"

    def constants(self) -> str:
        return f"{constants_line(self.runs, self.groups)}. {self.grouped_by()}; mean ± SEM over seeds."

    def findings(self) -> list[str]:
        return findings(self.rows, self.comparisons)

    def _judge_detail_columns(self) -> list[str]:
        """Each judge's fields of the Top@1 response besides its score (its Avg@N over all K: report.csv)."""
        skip = {*judge_score_columns(self.rows), *(c for c in self.columns if c.endswith(".score_avgN_mean"))}
        return [c for c in self.columns if c.startswith(JUDGE_PREFIX) and c not in skip]

    def table(self) -> str:
        """The answer table (markdown): group, K, FLOPs/prompt, Top@1, each judge, vs compute-matched BoN."""
        return answer_table(self.rows)

    def paired_csv(self) -> str:
        return paired_csv(self.comparisons)

    def csv(self) -> str:
        return to_csv(self.rows, self.axes, self.columns)

    # Figures: matplotlib Figures (matplotlib is imported only here: `pip install entrgi[plots]`).
    def plot_frontier(self):
        from entrgi.analysis.plots import plot_frontier

        return plot_frontier(self.rows)

    def plot_soft_reward(self):
        from entrgi.analysis.plots import plot_soft_reward

        return plot_soft_reward(self.groups)

    def plot_entropy_w(self):
        from entrgi.analysis.plots import plot_entropy_w

        return plot_entropy_w(self.groups)

    def plot_w_hist(self):
        from entrgi.analysis.plots import plot_w_hist

        return plot_w_hist(self.groups)

    def plot_ess(self):
        """ESS per denoising step of the groups that record it (particle runs); None when none does."""
        from entrgi.analysis.plots import plot_ess

        return plot_ess(self.groups)

    def prompt_key(
        self, sample_id: str | None = None, groups: list[Group] | None = None, field: str | None = None
    ) -> tuple | None:
        """The (seed, sample_id) shared by most of ``groups`` (with ``field`` in their record), first by seed."""
        groups = self.groups if groups is None else groups
        found = [
            {(repr(r.seed), rec["sample_id"]) for r in g.runs for rec in r.records if field is None or rec.get(field)}
            for g in groups
        ]
        order = [
            (repr(r.seed), rec["sample_id"])
            for r in sorted(self.runs, key=lambda r: str(r.seed))
            for rec in r.records
            if sample_id is None or str(rec["sample_id"]) == str(sample_id)
        ]
        best = max(order, key=lambda k: sum(k in f for f in found), default=None)  # max keeps the first of ties
        return best if best is not None and any(best in f for f in found) else None

    def record(self, group: Group, key: tuple) -> dict | None:
        return next(
            (rec for r in group.runs if repr(r.seed) == key[0] for rec in r.records if rec["sample_id"] == key[1]), None
        )

    def plot_heatmap(self, sample_id: str | None = None):
        """Entropy maps of one prompt (default: the first shared one), one panel per group that saved them."""
        key = self.prompt_key(sample_id, field="entropy_map")
        if key is None:
            return None
        panels = [
            (f"{g.label} (seed {key[0]})", rec)
            for g in self.groups
            if (rec := self.record(g, key)) is not None and rec.get("entropy_map")
        ]
        from entrgi.analysis.plots import plot_heatmaps

        return plot_heatmaps(panels)

    def gif_panels(self, sample_id: str | None = None) -> list[tuple[str, dict]]:
        """(title, record) of one prompt (default: the first one the groups share), one per group with ``order``;
        titled by the group's full label, which tells every panel apart."""
        key = self.prompt_key(sample_id, field="order")
        if key is None:
            return []
        return [
            (f"{g.label} (seed {key[0]})", rec)
            for g in self.groups
            if (rec := self.record(g, key)) is not None and rec.get("order")
        ]

    def write_gif(self, path: Path | str, sample_id: str | None = None) -> Path | None:
        """The denoising order of one prompt, a panel per group (at most :data:`GIF_PANELS`); None without
        ``order`` records. A particle run's panel shows its lineage and marks its resamplings."""
        panels = self.gif_panels(sample_id)
        if not panels:
            return None
        if len(panels) > GIF_PANELS:
            self._note(
                f"{DENOISING_GIF} shows the first {GIF_PANELS} of {len(panels)} groups; "
                "report a smaller folder for the others."
            )
        from entrgi.analysis.animation import write_denoising_gif

        return write_denoising_gif(panels[:GIF_PANELS], path)

    def write(self, folder: Path | str | None = None, plots: bool = True, sample_id: str | None = None) -> dict:
        """Write report.md, report.csv and (with ``plots``) plots/ into ``folder`` (default: the report's root)."""
        folder = Path(folder or self.root)
        written = {"csv": folder / REPORT_CSV, "paired": folder / PAIRED_CSV}
        write_text(written["csv"], self.csv())
        write_text(written["paired"], self.paired_csv())
        if plots:
            written |= self._write_plots(folder / PLOTS, sample_id)
        images = [str(p.relative_to(folder)) for k, p in written.items() if k not in ("csv", "paired")]
        written["markdown"] = folder / REPORT_MD
        write_text(written["markdown"], self.markdown(images))
        return written

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _write_plots(self, out: Path, sample_id: str | None) -> dict:
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        figures = {
            "frontier": self.plot_frontier(),
            "soft_reward": self.plot_soft_reward(),
            "entropy_w": self.plot_entropy_w(),
            "w_hist": self.plot_w_hist(),
        }
        ess = self.plot_ess()
        if ess is not None:
            figures["ess"] = ess
        else:
            self._note(
                "No ess.png: no run records `trace.ess` (the effective sample size of particle runs, `particles=fk`)."
            )
        key = self.prompt_key(sample_id, field="entropy_map")
        if key is not None:
            figures[f"heatmap_{key[1]}"] = self.plot_heatmap(key[1])
        else:
            self._note("No entropy maps (`save_entropy_maps: false`): no heatmap.")
        for name, fig in figures.items():
            written[name] = out / f"{name}.png"
            fig.savefig(written[name], dpi=110)
        gif = self.write_gif(out / DENOISING_GIF, sample_id)
        if gif is not None:
            written["denoising"] = gif
        else:
            prompt = "" if sample_id is None else f" for prompt {sample_id}"
            self._note(f"No {DENOISING_GIF}: no run has `order` (the denoising order){prompt} in its {GENERATIONS}.")
        return written


def load(path: Path | str) -> Report:
    """Read every run under ``path`` (a run folder or a sweep folder) into a Report."""
    runs = load_runs(path)
    groups, axes = group_runs(runs)
    rows, columns, notes = build_rows(groups)
    blank_reasons(groups, rows, columns)
    warnings, load_notes = load_warnings(groups, Path(path))
    compared = ("top1_reward_mean", *judge_score_columns(rows))
    return Report(
        root=Path(path),
        runs=runs,
        groups=groups,
        axes=axes,
        columns=columns,
        rows=rows,
        notes=[*judge_failures(groups), *notes, front_note(), *load_notes],
        spread=seed_spread(groups),
        warnings=warnings,
        comparisons=compare_groups(groups, compared),
    )


def log_to_wandb(rep: Report, written: dict) -> str | None:
    from entrgi.analysis.report_wandb import log_report, wandb_settings

    settings = wandb_settings(rep.runs)
    if settings is None:
        return None
    fields = to_csv(rep.rows, rep.axes, rep.columns).splitlines()[0].split(",")
    images = {k: p for k, p in written.items() if k not in ("csv", "paired", "markdown")}
    return log_report(settings, rep.root, rep.rows, fields, images, rep.markdown())


def run_report(folder: Path | str, sample_id: str | None = None, plots: bool = True, to_wandb: bool = True) -> str:
    """Write the report of ``folder`` into it, print its first screen (returns the answer table), with ``to_wandb``
    log it to W&B when its runs were logged there. ``sample_id``: the prompt of the heatmap and the GIF.
    Raises :class:`ReportError` for a folder it cannot read (the message says what to pass instead)."""
    rep = load(folder)
    if sample_id is not None and rep.prompt_key(sample_id) is None:
        raise ReportError(f"--prompt {sample_id}: no run under {folder} has that sample_id in {GENERATIONS}")
    written = rep.write(folder, plots=plots, sample_id=sample_id)
    table = rep.table()
    print(rep.constants(), table, "\n".join(f"- {f}" for f in rep.findings()), sep="\n\n")
    for warning in rep.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"\nwrote {', '.join(str(p) for p in written.values())}", file=sys.stderr)
    if to_wandb:
        wandb_dir = log_to_wandb(rep, written)
        if wandb_dir:
            print(f"logged the report to W&B ({wandb_dir})", file=sys.stderr)
    return table
