"""Log a report to Weights & Biases when its runs were logged there (``logger=wandb``, mode not disabled).

The report is a run of its own in the runs' project and group (``experiment_name``), with
``job_type="report"``: a table of the report rows and every plot as an image.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from entrgi.analysis.runs import Run


def wandb_settings(runs: list[Run]) -> dict[str, Any] | None:
    """``wandb.init`` keyword arguments from the first run whose config has an enabled WandbLogger, else None."""
    if os.environ.get("WANDB_MODE") == "disabled":
        return None
    for run in runs:
        cfg = run.config
        if "WandbLogger" in str(cfg.get("logger._target_", "")) and cfg.get("logger.mode", "offline") != "disabled":
            return {
                "project": cfg.get("logger.project") or "entrgi",
                "entity": cfg.get("logger.entity"),
                "group": cfg.get("experiment_name") or cfg.get("logger.group"),
                "job_type": "report",
                "mode": cfg.get("logger.mode") or "offline",
            }
    return None


def log_report(
    settings: dict[str, Any], folder: Path, rows: list[dict], fields: list[str], images: dict[str, Path], summary: str
) -> str:
    """Create the report run under ``folder/wandb``, log the rows and images, finish it; returns its folder."""
    import wandb

    run = wandb.init(**settings, dir=str(folder), name=f"report-{folder.name}", reinit="finish_previous")
    try:
        table = wandb.Table(columns=fields)
        for r in rows:
            table.add_data(
                *[
                    r.get(f) if isinstance(r.get(f), (int, float, str, bool)) or r.get(f) is None else str(r.get(f))
                    for f in fields
                ]
            )
        run.log({"report/table": table, **{f"report/{name}": wandb.Image(str(path)) for name, path in images.items()}})
        run.summary["report/markdown"] = summary
        return str(run.dir)
    finally:
        run.finish()
