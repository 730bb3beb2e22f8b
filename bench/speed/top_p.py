"""Exact top-p on CPU: the candidate / bucket / bisection searches against a full torch.sort.

Random rows of softmax(randn * scale / 0.7) at top_p 0.95: scale 1 gives flat rows (a nucleus of
most of the vocabulary), scale 4 peaked ones. Median milliseconds of 5 calls on [rows, V], after a
warm-up call; ``auto`` is what the sampler uses on CPU (candidates, bucket search for the rest).

    python bench/speed/top_p.py
"""

import time

import torch

from entrgi.engine.schedule.top_p import top_p_keep


def ms(fn, repeats: int = 5) -> float:
    """Median milliseconds of ``repeats`` calls after a warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(sorted(times)[repeats // 2] * 1000, 1)


def main() -> None:
    torch.manual_seed(0)
    print("| V | rows | kind | auto | bucket | bisection | torch.sort | nucleus (mean tokens) |")
    print("|---|---|---|---|---|---|---|---|")
    for vocab, rows in [(16384, 512), (152053, 27)]:
        for scale, kind in [(1.0, "flat"), (4.0, "peaked")]:
            p = torch.softmax(torch.randn(rows, vocab) * scale / 0.7, -1)
            times = [ms(lambda m=m, p=p: top_p_keep(p, 0.95, method=m)) for m in ("auto", "bucket", "threshold")]
            sort = ms(lambda p=p: torch.sort(p, -1, descending=True))
            nucleus = top_p_keep(p, 0.95).sum(-1).float().mean().item()
            print(f"| {vocab} | {rows} | {kind} | " + " | ".join(map(str, times)) + f" | {sort} | {nucleus:.0f} |")


if __name__ == "__main__":
    main()
