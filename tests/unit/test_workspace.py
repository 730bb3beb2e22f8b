"""The W&B workspace spec: built offline (nothing is saved), checked against the keys the code logs."""

import subprocess
import sys

import pytest

pytest.importorskip("wandb_workspaces")

import wandb_workspaces.reports.v2 as wr  # noqa: E402
import wandb_workspaces.workspaces as ws  # noqa: E402
from wandb_fakes import FakeRun, rec  # noqa: E402

from entrgi.pipeline import workspace as wsp  # noqa: E402
from entrgi.pipeline.callbacks import wandb_logging as wl  # noqa: E402
from entrgi.pipeline.callbacks import wandb_stream as stream  # noqa: E402


@pytest.fixture(scope="module")
def spec():
    return wsp.build_workspace("an-entity", "entrgi", name="entrgi view")


@pytest.fixture(scope="module")
def logged_keys():
    """Every key the code logs for a judged run: per-batch rows, then the end-of-run log."""
    run = FakeRun()
    records = [rec(1.0, 0.5, judge=0.9, sid="a"), rec(2.0, 1.0, judge=0.2, sid="b")]
    stream.BatchLogger(run, prompts_total=2)(records, generated_tokens=16)
    wl.log_run(run, records, {"top1_reward_mean": 1.5})
    return {key for row in run.logged for key in row}


def sections(spec):
    return {s.name: s for s in spec.sections}


def test_identity_and_sections(spec):
    assert (spec.entity, spec.project, spec.name) == ("an-entity", "entrgi", "entrgi view")
    assert list(sections(spec)) == ["Progress", "Denoising", "Prompts", "Generations", "Report"]
    assert all(s.is_open for s in spec.sections)


def test_runs_grouped_by_wandb_group(spec):
    (group,) = spec.runset_settings.groupby
    assert isinstance(group, ws.Metric) and group.name == "Group"


@pytest.mark.parametrize("name, x", [("Progress", "batch"), ("Denoising", "denoise/step"), ("Prompts", "prompt/index")])
def test_line_plots_use_the_section_x_axis(spec, name, x):
    section = sections(spec)[name]
    assert section.panel_settings.x_axis == x
    assert section.panels and all(isinstance(p, wr.LinePlot) and p.x == x for p in section.panels)


def test_every_plotted_key_is_logged_by_the_code(spec, logged_keys):
    plotted = {y for s in spec.sections for p in s.panels if isinstance(p, wr.LinePlot) for y in [p.x, *p.y]}
    assert plotted <= logged_keys, plotted - logged_keys


def test_progress_plots_every_streamed_key(spec, logged_keys):
    streamed = {k for k in logged_keys if k.startswith(("batch/", "progress/", "throughput/"))}
    assert streamed == set(stream.ALL_KEYS)
    plotted = {y for p in sections(spec)["Progress"].panels for y in p.y}
    assert plotted == streamed


def test_denoising_and_prompts_panels(spec):
    denoise = {y for p in sections(spec)["Denoising"].panels for y in p.y}
    assert denoise == {
        "denoise/entropy_mean",
        "denoise/w_mean",
        "denoise/reward_soft_before",
        "denoise/reward_soft_after",
    }
    prompts = {y for p in sections(spec)["Prompts"].panels for y in p.y}
    assert prompts == {"prompt/top1_reward", "prompt/avgN_reward", "prompt/judge_score"}


def test_one_denoising_panel_shows_any_method_statistic(spec):
    """A regex panel: every ``denoise/*`` curve, a new method's statistic included, but not the x-axis."""
    import re

    (panel,) = [p for p in sections(spec)["Denoising"].panels if p.metric_regex]
    assert panel.x == wl.DENOISE_STEP and panel.y == []
    run = FakeRun()
    record = rec(1.0, 0.5) | {"trace": {"committed": [1, 2], "bias_applied": [0.5, 1.0]}}
    wl.log_run(run, [record], {})
    curves = {key for row in run.logged for key in row if key.startswith("denoise/")}
    assert curves == {wl.DENOISE_STEP, "denoise/tokens_committed", "denoise/bias_applied"}
    assert {key for key in curves if re.search(panel.metric_regex, key)} == curves - {wl.DENOISE_STEP}


def test_generations_table_panel(spec, logged_keys):
    (table,) = sections(spec)["Generations"].panels
    assert isinstance(table, wr.WeavePanelSummaryTable) and table.table_name == "generations"
    assert table.table_name in logged_keys


@pytest.mark.slow
def test_report_panels_show_what_entrgi_report_logs(spec, tmp_path, monkeypatch):
    """A real ``python -m entrgi.report`` (plots included) logged to an offline W&B run, read back."""
    from report_runs import config, write_run
    from wandb_reader import summarize_run

    from entrgi import report

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for i, (method, seed) in enumerate([("bon", 1), ("bon", 2), ("entrgi", 1), ("entrgi", 2)]):
        cfg = config(
            method,
            seed,
            tmp_path / str(i),
            logger={
                "_target_": "lightning.pytorch.loggers.WandbLogger",
                "project": "entrgi-test",
                "entity": None,
                "mode": "offline",
            },
        )
        write_run(tmp_path / str(i), method, seed, [1.0 + i, 2.0], cfg=cfg, compute=1e9 * (1 + i))
    report.main([str(tmp_path)])
    (run_file,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    history = summarize_run(run_file)["history"]
    media = {k.rsplit("/", 1)[0] for k in history if k.endswith("/_type")}  # a logged table or image: key/_type
    panels = sections(spec)["Report"].panels
    tables = [p.table_name for p in panels if isinstance(p, wr.WeavePanelSummaryTable)]
    images = [k for p in panels if isinstance(p, wr.MediaBrowser) for k in p.media_keys]
    assert tables == [wl.REPORT_TABLE] and images == list(wl.REPORT_PLOTS)
    assert set(tables + images) <= media, set(tables + images) - media
    assert {k for k in media if not k.startswith(wl.REPORT_PREFIX + "heatmap_")} == set(tables + images)


def test_spec_serializes_offline_with_axes_and_grouping(spec):
    view = spec._to_model().model_dump(by_alias=True, exclude_none=True)  # what save() would send
    wire = {s["name"]: s for s in view["spec"]["section"]["panelBankConfig"]["sections"]}
    assert wire["Progress"]["localPanelSettings"]["xAxis"] == "batch"
    plots = [p["config"] for p in wire["Denoising"]["panels"]]
    assert {c["xAxis"] for c in plots} == {"denoise/step"}
    assert "denoise/entropy_mean" in {m for c in plots for m in c["metrics"]}
    assert view["spec"]["section"]["runSets"][0]["grouping"] == [{"section": "run", "name": "group"}]


def test_main_saves_and_prints_the_url(monkeypatch, capsys):
    calls = []

    class Saved:
        url = "https://wandb.ai/e/p?nw=abc"

    class Spec:
        def save(self):
            calls.append("save")
            return Saved()

    monkeypatch.setattr(
        wsp, "build_workspace", lambda entity, project, name: calls.append((entity, project, name)) or Spec()
    )
    assert wsp.main(["--entity", "e", "--project", "p"]) == Saved.url
    assert calls == [("e", "p", "entrgi"), "save"]
    assert capsys.readouterr().out.strip() == Saved.url


def test_cli_help_runs_without_network():
    out = subprocess.run(
        [sys.executable, "-m", "entrgi.workspace", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "--entity ENTITY --project PROJECT" in text and "wandb login" in text
