"""A saved W&B workspace (a project view) laid out for entrgi runs.

``python -m entrgi.workspace --entity E --project P [--name N]`` saves it (online W&B and an API
key: ``wandb login``) and prints its URL. Needs the optional extra: ``pip install 'entrgi[workspace]'``.

Sections, runs grouped by W&B group (the experiment):
- Progress: ``batch/*``, ``progress/*`` and ``throughput/*`` against ``batch`` (logged while the run goes)
- Denoising: mean entropy, w, soft reward before / after guidance against ``denoise/step``, and one
  panel matching every ``denoise/*`` curve, so a guidance method's own statistics show without a change here
- Prompts: Top@1, Avg@N and the judge score per prompt against ``prompt/index``
- Generations: the ``generations`` table (every response with its reward)
- Report: what ``python -m entrgi.report`` logs under ``report/`` in its own run (the table of
  groups, the frontier, soft-reward, entropy / w and w-histogram plots, the denoising GIF)
The panels name the keys the code logs: they are imported from ``callbacks.wandb_stream`` and
``callbacks.wandb_logging``, not retyped.
"""

from __future__ import annotations

import argparse
from typing import Any

from entrgi.pipeline.callbacks import wandb_logging as wl
from entrgi.pipeline.callbacks import wandb_stream as stream

PROGRESS, DENOISING, PROMPTS, GENERATIONS, REPORT = "Progress", "Denoising", "Prompts", "Generations", "Report"
# (title, y keys) per line plot, with the section's x-axis
PROGRESS_PLOTS = [
    ("Top@1 / Avg@N per batch", [stream.TOP1, stream.AVGN]),
    ("Judge score per batch", [stream.JUDGE_SCORE]),
    ("Prompts done", [stream.PROMPTS_DONE]),
    ("Fraction done", [stream.FRACTION]),
    ("Prompts per second", [stream.PROMPTS_PER_S]),
    ("Tokens per second", [stream.TOKENS_PER_S]),
]
DENOISING_PLOTS = [
    ("Normalized entropy of masked positions", [wl.CURVES["entropy_mean"]]),
    ("Relaxation weight w", [wl.CURVES["w_mean"]]),
    ("Soft reward before / after guidance", [wl.CURVES["reward_soft_before"], wl.CURVES["reward_soft_after"]]),
]
# (title, regex): every per-step curve, whatever the guidance method reports (wandb_logging.curve_name)
DENOISING_ANY = ("Every per-step statistic", r"^denoise/(?!step$)")
PROMPTS_PLOTS = [
    ("Top@1 / Avg@N per prompt", [wl.PROMPT_TOP1, wl.PROMPT_AVGN]),
    ("Judge score per prompt", [wl.PROMPT_JUDGE_SCORE]),
]
X_AXES = {PROGRESS: stream.BATCH_STEP, DENOISING: wl.DENOISE_STEP, PROMPTS: wl.PROMPT_INDEX}


def _import_api():
    try:
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
    except ImportError as err:
        raise ImportError("entrgi.workspace needs wandb-workspaces: pip install 'entrgi[workspace]'") from err
    return ws, wr


def _line_section(ws, wr, name: str, plots: list[tuple[str, list[str]]], regex: tuple[str, str] | None = None):
    x = X_AXES[name]
    panels = [wr.LinePlot(title=title, x=x, y=list(ys), title_x=x) for title, ys in plots]
    if regex is not None:
        panels.append(wr.LinePlot(title=regex[0], x=x, metric_regex=regex[1], title_x=x))
    return ws.Section(name=name, panels=panels, is_open=True, panel_settings=ws.SectionPanelSettings(x_axis=x))


def build_workspace(entity: str, project: str, name: str = "entrgi") -> Any:
    """The workspace spec (a ``wandb_workspaces.workspaces.Workspace``); nothing is sent until ``.save()``."""
    ws, wr = _import_api()
    sections = [
        _line_section(ws, wr, PROGRESS, PROGRESS_PLOTS),
        _line_section(ws, wr, DENOISING, DENOISING_PLOTS, DENOISING_ANY),
        _line_section(ws, wr, PROMPTS, PROMPTS_PLOTS),
        ws.Section(
            name=GENERATIONS,
            is_open=True,
            panels=[wr.WeavePanelSummaryTable(table_name=wl.GENERATIONS_TABLE, layout=wr.Layout(w=24, h=12))],
        ),
        ws.Section(
            name=REPORT,
            is_open=True,
            panels=[
                wr.WeavePanelSummaryTable(table_name=wl.REPORT_TABLE, layout=wr.Layout(w=24, h=8)),
                *[wr.MediaBrowser(title=key[len(wl.REPORT_PREFIX) :], media_keys=[key]) for key in wl.REPORT_PLOTS],
            ],
        ),
    ]
    return ws.Workspace(
        entity=entity,
        project=project,
        name=name,
        sections=sections,
        runset_settings=ws.RunsetSettings(groupby=[ws.Metric("Group")]),
    )


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(
        prog="python -m entrgi.workspace",
        description="Save a W&B workspace for entrgi runs (Progress, Denoising, Prompts, Generations, Report; "
        "runs grouped by experiment). Needs online W&B (`wandb login`) and "
        "`pip install 'entrgi[workspace]'`.",
    )
    parser.add_argument("--entity", required=True, help="W&B entity (user or team) that owns the project")
    parser.add_argument("--project", required=True, help="W&B project, e.g. entrgi (logger.project)")
    parser.add_argument("--name", default="entrgi", help="name of the saved view (default: entrgi)")
    args = parser.parse_args(argv)
    import wandb

    try:
        workspace = build_workspace(args.entity, args.project, args.name).save()
    except wandb.errors.Error as err:
        raise SystemExit(
            f"could not save the workspace to {args.entity}/{args.project}: {err}\n"
            "Log in with `wandb login` (or set WANDB_API_KEY), and check --entity and --project."
        ) from err
    print(workspace.url)
    return workspace.url


if __name__ == "__main__":
    main()
