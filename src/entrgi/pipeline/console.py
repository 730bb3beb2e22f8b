"""What a finished run says to the person who started it: a short block printed after the progress bar.

``summary_text(metrics, records, output_dir)`` is pure (tests call it with hand-made dicts);
``print_summary`` prints it on global rank 0.
"""

from __future__ import annotations

import math
from pathlib import Path

from entrgi.outputs.files import RunFolder

_SI = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
RESPONSE_CHARS = 200
PROMPT_CHARS = 80
SHOWN_PROMPTS = 2


def si(value: float, unit: str = "") -> str:
    """``1.23e12`` -> ``1.23 T`` + unit: three significant digits and an SI prefix."""
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".rstrip()


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _fmt(value, digits: int = 4) -> str:
    value = _number(value)
    return "n/a" if value is None else f"{value:.{digits}f}"


def shorten(text: str, limit: int) -> str:
    """One line (whitespace collapsed), cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def _samples_per_prompt(metrics: dict, records: list[dict]) -> int | None:
    if metrics.get("samples_per_prompt"):
        return int(metrics["samples_per_prompt"])
    return len(records[0]["responses"]) if records else None


def _judge_lines(metrics: dict) -> list[str]:
    if not metrics.get("judge") and _number(metrics.get("judge_score_mean")) is None:
        return []
    extra = [
        f"{key[len('judge_') : -len('_mean')]} {_fmt(value)}"
        for key, value in sorted(metrics.items())
        if key.startswith("judge_")
        and key.endswith("_mean")
        and key != "judge_score_mean"
        and _number(value) is not None
    ]
    line = f"  Judge    {metrics.get('judge') or 'judge'}: score {_fmt(metrics.get('judge_score_mean'))}"
    failures = metrics.get("judge_failures")
    if _number(failures):  # LMUnit's unit tests with no score digit: the score averages the rest
        line += f", {int(failures)} checks unscored (judge_failures)"
    return [line + (f"  ({', '.join(extra)})" if extra else "")]


def _compute_lines(metrics: dict) -> list[str]:
    compute = metrics.get("compute") or {}
    parts = []
    if _number(compute.get("flops")) is not None:
        parts.append(si(compute["flops"], "FLOP"))
        if _number(compute.get("flops_per_prompt")) is not None:
            parts[-1] += f" ({si(compute['flops_per_prompt'], 'FLOP')}/prompt)"
    wall, n = _number(metrics.get("generation_wall_s")), metrics.get("num_prompts")
    if wall is not None:
        parts.append(f"generation {wall:.1f} s" + (f" ({wall / n:.2f} s/prompt)" if n else ""))
    if _number(metrics.get("total_wall_s")) is not None:
        parts.append(f"total {metrics['total_wall_s']:.1f} s")
    if _number(metrics.get("gpu_s")) is not None:
        parts.append(f"GPU {metrics['gpu_s']:.1f} s")
    passes = [
        f"{label} {int(compute[key])}"
        for key, label in (
            ("dllm_forwards", "dLLM fwd"),
            ("reward_forwards", "reward fwd"),
            ("reward_backwards", "reward bwd"),
        )
        if _number(compute.get(key)) is not None
    ]
    lines = [f"  Compute  {', '.join(parts)}"] if parts else []
    return lines + ([f"           {', '.join(passes)}"] if passes else [])


def _best_lines(records: list[dict]) -> list[str]:
    lines = []
    for r in records[:SHOWN_PROMPTS]:
        if r.get("best_index") is None:  # every final reward non-finite: nothing to call best
            lines.append(f"  [{r['sample_id']}] no finite reward among its {len(r['responses'])} responses")
            continue
        best = r["responses"][r["best_index"]]
        lines.append(f"  [{r['sample_id']}] {shorten(r.get('prompt', ''), PROMPT_CHARS)}")
        lines.append(f"      best (reward {_fmt(r.get('top1_reward'))}): {shorten(best, RESPONSE_CHARS)}")
    return lines


def summary_text(metrics: dict, records: list[dict], output_dir: str | Path) -> str:
    """The end-of-run block: rewards, judge, compute, two best responses, and where the outputs are."""
    k = _samples_per_prompt(metrics, records) or "?"
    n = metrics.get("num_prompts", len(records))
    head = f"entrgi: {metrics.get('guidance') or metrics.get('method', '?')}, {n} prompts x K={k}"
    if metrics.get("seed") is not None:
        head += f", seed {metrics['seed']}"
    lines = [
        head,
        f"  Top@1    {_fmt(metrics.get('top1_reward_mean'))}   "
        f"(best of K={k} by the guidance reward, mean over prompts)",
        f"  Avg@N    {_fmt(metrics.get('avgN_reward_mean'))}   (mean over all K={k} responses)",
    ]
    lines += _judge_lines(metrics) + _compute_lines(metrics)
    skipped = {key: v for key, v in (metrics.get("skipped") or {}).items() if v}
    if skipped:
        lines.append("  Skipped  " + ", ".join(f"{key} {v}" for key, v in skipped.items()))
    if records:
        lines += ["", "Best responses:", *_best_lines(records)]
    out = RunFolder(output_dir)
    lines += [
        "",
        f"Outputs in {out.root}",
        f"  {out.generations}   (one record per prompt: responses, rewards, trace)",
        f"  {out.metrics}",
        f"Next: python -m entrgi.report {out.root}",
    ]
    return "\n".join(lines)


def print_summary(metrics: dict, records: list[dict], output_dir: str | Path) -> None:
    """Print ``summary_text`` to stdout on global rank 0 (a no-op on other ranks)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    if rank_zero_only.rank == 0:
        print("\n" + summary_text(metrics, records, output_dir), flush=True)
