"""Keep README and docs showing the generated report, never a hand copy: every block between

    <!-- include: bench/quality/compute_frontier.md#answer -->
    ...
    <!-- end include -->

is the named section of the named generated file (``#answer``: a report's constants, warnings, answer table and
findings, the first screen ``python -m entrgi.report`` writes). Run after a bench script rewrote its report:

    python bench/quality/include.py            # rewrite every block in README.md and docs/*.md
    python bench/quality/include.py --check    # exit 1 when a block differs from its source (tests run this)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("README.md", "docs/results.md")
BLOCK = re.compile(r"(<!-- include: (?P<src>[^#\s]+)#(?P<section>\w+) -->\n)(?P<body>.*?)(<!-- end include -->)", re.S)


def answer(text: str) -> str:
    """A report.md's first screen: from the line after its title to the end of its ``## Answer`` section."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# Report:")) + 1
    head = next(i for i, line in enumerate(lines) if line == "## Answer")
    end = next((i for i in range(head + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    kept = [line for line in lines[start:end] if line != "## Answer"]
    kept = [line for i, line in enumerate(kept) if line or (i and kept[i - 1])]  # no two blank lines in a row
    return "\n".join(kept).strip() + "\n"


SECTIONS = {"answer": answer}


def render(text: str) -> str:
    def body(m: re.Match) -> str:
        source = (ROOT / m["src"]).read_text()
        return f"{m.group(1)}\n{SECTIONS[m['section']](source)}\n{m.group(5)}"

    return BLOCK.sub(body, text)


def stale() -> list[str]:
    """The targets whose blocks differ from their sources."""
    return [t for t in TARGETS if (ROOT / t).is_file() and render((ROOT / t).read_text()) != (ROOT / t).read_text()]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        out = stale()
        for t in out:
            print(f"{t}: an include block differs from its source; run python bench/quality/include.py")
        return 1 if out else 0
    for t in TARGETS:
        path = ROOT / t
        if path.is_file():
            path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
