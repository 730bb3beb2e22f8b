"""What a reader must know to trust a report's numbers: why a cell is blank, what the ± over seeds holds,
and whether wall times are comparable (the machine's load while the runs ran).

``blank_reasons`` sets ``row["blank"]`` (column -> reason) for every cell the tables leave empty;
``seed_spread`` says what the ± mixes; ``load_warnings`` compares the runs' load per CPU.
"""

from __future__ import annotations

import math
from pathlib import Path

from entrgi.analysis.frontier import COST_TOLERANCE, matched_bon_gap
from entrgi.analysis.labels import K_AXIS
from entrgi.analysis.runs import Group, Run, bon_peers
from entrgi.outputs.files import METRICS
from entrgi.outputs.metrics import judge_blocks

LOAD_GAP = 0.5  # other work's load per CPU: runs further apart than this ran under very different loads
BUSY_LOAD = 0.5  # other work's load per CPU above which a run's absolute wall times are inflated (a note)
LOAD_KEYS = ("load_avg_start", "load_avg_end", "cpu_count")
WALL_COLUMNS = ("gen wall s", "wall s/prompt", "the wall-time front")
# derived columns: the metrics.json keys they come from
SOURCES = {"wall_s_per_prompt": "generation_wall_s", "cpu_s_per_prompt": "cpu_s"}
OLD = "runs written before it was recorded"


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def _missing_reason(column: str, runs: list[Run]) -> str:
    """Why no run of a group has a value for ``column``."""
    key = SOURCES.get(column, column)
    if column.startswith("compute."):
        if not any(r.metrics.get("compute") for r in runs):
            return f"no `compute` in {METRICS} (runs written before the FLOP counter)"
        return f"`{column}` is not in these runs' `compute`"
    if column.startswith(("judge_", "judges.")):  # the latest judge's flat keys, or judges.<name>.<field>_mean
        if not any(r.metrics.get("judge") or r.metrics.get("judges") for r in runs):
            return "no judge scored these runs (add one: `python -m entrgi.judge PATH judge=...`)"
        return "no judge of these runs reports it (another judge's column, or a field this judge lacks)"
    present = [r.metrics[key] for r in runs if key in r.metrics]
    if not present:
        return f"`{key}` is not in {METRICS} ({OLD})"
    if column == "gpu_s":
        return "the runs ran on CPU (GPU seconds are counted on CUDA only)"
    if all(v is None for v in present):
        detail = ": part of the run was written before it was recorded" if key == "cpu_s" else ""
        return f"`{key}` is null in {METRICS}{detail}"
    return f"`{key}` needs at least one prompt in the run"


def blank_reasons(groups: list[Group], rows: list[dict], columns: list[str]) -> None:
    """``row["blank"]``: column -> why the cell is empty, for the metric columns, BoN @ matched FLOPs, the fronts."""
    row_of = {id(g): r for g, r in zip(groups, rows, strict=True)}
    for g, row in zip(groups, rows, strict=True):
        blank = {c: _missing_reason(c, g.runs) for c in columns if not _number(row.get(c))}
        if not _number(row.get("bon_matched_top1")):
            if not g.guided:
                blank["bon_matched_top1"] = "a BoN group: BoN is the curve the guided groups are matched against"
            else:
                curve = [
                    (row_of[id(b)].get("compute.flops_per_prompt"), row_of[id(b)].get("top1_reward_mean"))
                    for b in bon_peers(g, groups, ignore=(K_AXIS,))
                ]
                blank["bon_matched_top1"] = matched_bon_gap(row.get("compute.flops_per_prompt"), curve) or "?"
        for name, x in (("front_flops", "compute.flops_per_prompt"), ("front_wall", "wall_s_per_prompt")):
            if row.get(name) is None:
                missing = x if not _number(row.get(x)) else "top1_reward_mean"
                blank[name] = blank.get(missing) or _missing_reason(missing, g.runs)
        row["blank"] = blank


def seed_spread(groups: list[Group]) -> str:
    """What a group's ± over seeds holds: seed variation alone, or prompts as well (the seed picks the prompts)."""
    if not any(len(g.runs) > 1 for g in groups):
        return "Each group has one run: no ± (one seed). Compare groups with the paired differences."
    if not any(r.records for g in groups for r in g.runs):
        return "± is the SEM over a group's seeds (no records to tell whether the seeds ran the same prompts)."
    prompts_vary = any(len({frozenset(rec["sample_id"] for rec in r.records) for r in g.runs}) > 1 for g in groups)
    if prompts_vary:
        return (
            "± is the SEM over a group's seeds, and here the seed also picks the prompts (a group's runs ran "
            "different sample_ids), so it mixes prompt-to-prompt and seed-to-seed variation: two groups' ± "
            "do not tell whether their difference is noise. The paired differences do: they compare groups on "
            "the same (seed, prompt) pairs."
        )
    return (
        "± is the SEM over a group's seeds; every seed ran the same prompts, so it holds the variation of "
        "sampling over this fixed prompt set, not that of other prompts. The paired differences compare groups on "
        "the same (seed, prompt) pairs."
    )


def load_per_cpu(metrics: dict) -> float | None:
    """Mean of the run's 1-minute load averages at its start and end (those recorded) over ``cpu_count``."""
    count = metrics.get("cpu_count")
    loads = [metrics.get(k) for k in ("load_avg_start", "load_avg_end") if _number(metrics.get(k))]
    if not loads or not _number(count) or count <= 0:
        return None
    return sum(loads) / len(loads) / count


def own_per_cpu(metrics: dict) -> float | None:
    """The run's own CPU use over its generation, in CPUs busy per CPU: ``cpu_s / generation_wall_s / cpu_count``
    (its threads count in the load average it read); None when it did not record its CPU time."""
    count, cpu, wall = metrics.get("cpu_count"), metrics.get("cpu_s"), metrics.get("generation_wall_s")
    if not all(_number(v) and v > 0 for v in (count, cpu, wall)):
        return None
    return cpu / wall / count


def other_load_per_cpu(metrics: dict) -> float | None:
    """The load per CPU beyond the run's own CPU use (:func:`own_per_cpu`): other work on the machine. A run that
    did not record its CPU time counts its whole load."""
    load = load_per_cpu(metrics)
    if load is None:
        return None
    own = own_per_cpu(metrics)
    return load if own is None else max(0.0, load - own)


def _name(run: Run, group: Group, root: Path) -> str:
    try:
        where = run.dir.relative_to(root)
    except ValueError:
        where = run.dir
    return f"{group.label} seed {run.seed} (`{where}`)"


def load_warnings(groups: list[Group], root: Path) -> tuple[list[str], list[str]]:
    """(warnings, notes) on the machine's load while the runs ran: the warning when the runs' load per CPU
    spans more than :data:`LOAD_GAP` or their CPU counts differ; a note when runs did not record the load."""
    named = [(run, _name(run, g, root)) for g in groups for run in g.runs]
    loads = [(lpc, name) for run, name in named if (lpc := other_load_per_cpu(run.metrics)) is not None]
    warnings, notes = [], []
    if len(loads) >= 2:
        (low, low_name), (high, high_name) = min(loads), max(loads)
        if high - low > LOAD_GAP:
            warnings.append(
                f"The runs ran beside very different amounts of other work: the load per CPU beyond each run's own "
                f"CPU use (the 1-minute load average, mean of the run's start and end, minus the run's CPU seconds "
                f"over its generation time, over `cpu_count`) goes from {low:.2f} ({low_name}) to {high:.2f} "
                f"({high_name}), more than {LOAD_GAP} apart. Wall-time comparisons between these runs "
                f"({', '.join(WALL_COLUMNS)}) are unreliable: other work shared the CPUs. FLOPs are counted, not "
                "timed, and do not move with load; CPU s counts the run's own CPU time, which contention moves "
                "far less than wall time."
            )
    counts = sorted({run.metrics["cpu_count"] for run, _ in named if _number(run.metrics.get("cpu_count"))})
    if len(counts) > 1:
        warnings.append(
            f"The runs saw different CPU counts ({', '.join(map(str, counts))}): wall times and CPU s are not "
            "comparable between them; FLOPs are."
        )
    if loads and max(loads)[0] > BUSY_LOAD:
        notes.append(
            f"Some runs ran on a busy machine (other work's load per CPU up to {max(loads)[0]:.2f}, above "
            f"{BUSY_LOAD}): their wall times are longer than the same work on an idle machine."
        )
    unrecorded = sum(load_per_cpu(run.metrics) is None for run, _ in named)
    if unrecorded:
        notes.append(
            f"{unrecorded} of {len(named)} runs did not record the machine load (`{'`, `'.join(LOAD_KEYS)}` in "
            f"{METRICS}; {OLD}): whether their wall times are comparable cannot be checked."
        )
    return warnings, notes


def front_note() -> str:
    return (
        "Pareto front (the findings' per-FLOP line; ★ in plots/frontier.png): no other group scores higher at a "
        f"cost no more than {COST_TOLERANCE:.0%} above "
        f"its own, or as high at a cost lower by more than {COST_TOLERANCE:.0%}. Costs within {COST_TOLERANCE:.0%} "
        "of each other count as equal (padding moves FLOPs a little), so such groups are compared on Top@1 alone."
    )


def judge_failures(groups: list[Group]) -> list[str]:
    """A note per judge whose checks went unscored (``failures`` in its block: LMUnit's unit tests with no score
    digit), with the count per group; none when every check was scored."""
    counts: dict[str, dict[str, int]] = {}
    for g in groups:
        for run in g.runs:
            for name, block in judge_blocks(run.metrics).items():
                n = block.get("failures") if isinstance(block, dict) else None
                if _number(n) and n > 0:
                    per_group = counts.setdefault(name, {})
                    per_group[g.label] = per_group.get(g.label, 0) + int(n)
    return [
        f"judge[{name}] left {sum(by.values())} checks unscored (`judge_failures`; the judge's score averages the "
        f"rest): {', '.join(f'{label} {n}' for label, n in by.items())}."
        for name, by in counts.items()
    ]
