"""Re-judge finished runs: ``python -m entrgi.judge RUN_OR_SWEEP_DIR judge=NAME [judge.KEY=VALUE ...]``.

Every ``generations.jsonl`` under the folder is scored by the chosen judge, in place; records and
``metrics.json`` keep one block per judge name (``judges``): this judge's is added or replaced, the
others stay, and the flat ``judge`` / ``judge_*`` keys become this judge's. The guidance reward model
is refused as a judge unless ``judge.allow_guidance_reward=true`` (``entrgi.pipeline.rejudge``). Examples::

    python -m entrgi.judge outputs/2025-01-01/12-00-00 judge=oracle
    python -m entrgi.judge multirun/2025-01-01/12-00-00 judge=reward_model \
        judge.path=Skywork/Skywork-Reward-V2-Llama-3.1-8B
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from entrgi.pipeline.rejudge import rejudge


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m entrgi.judge", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a run folder (paths.output_dir) or a sweep folder holding runs")
    parser.add_argument("overrides", nargs="*", help="judge=NAME and judge.KEY=VALUE overrides")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return rejudge(args.folder, args.overrides)


if __name__ == "__main__":
    sys.exit(main())
