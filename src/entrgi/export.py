"""``python -m entrgi.export PATH [--all] [--out FILE]``: guided completions as JSONL for TRL's SFT trainer.

PATH is a run folder (``python -m entrgi.run``, ``python -m entrgi.posttrain``) or a sweep folder
holding runs. Each row is TRL's conversational prompt-completion format (``prompt``: the chat,
``completion``: the assistant turn) with ``reward``, ``sample_id``, ``run``, ``method``, ``seed``
(post-training samples: ``step``); by default one row per prompt, its best response by the guidance
reward, written to PATH/export.jsonl; ``--all``: one row per trajectory with ``k`` and ``rank``,
written to PATH/export_all.jsonl (``entrgi.outputs.export``; docs/outputs.md). Example::

    python -m entrgi.export multirun/2025-01-01/12-00-00 --all
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from entrgi.outputs.export import ALL, BEST, ExportError, write_export
from entrgi.outputs.files import RunFolderError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m entrgi.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a run folder (paths.output_dir) or a sweep folder holding runs")
    parser.add_argument("--all", action="store_true", help="one row per trajectory (k, rank), not the best per prompt")
    parser.add_argument("--out", type=Path, metavar="FILE", help="where to write (default: in PATH)")
    args = parser.parse_args(argv)
    try:
        path, export = write_export(args.folder, args.out, ALL if args.all else BEST)
    except (ExportError, RunFolderError) as err:
        parser.error(str(err))
    if export.skipped:
        what = "responses" if args.all else "prompts"
        print(f"skipped {export.skipped} {what} with no finite reward", file=sys.stderr)
    print(f"wrote {len(export.rows)} rows from {len(export.folders)} run folder(s) to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
