"""Judging records (lines of generations.jsonl) and summarizing the judge's fields for metrics.json."""

from __future__ import annotations

import math

from entrgi.judges.base import Judge

FAILURES = "failures"  # a judge's count of a response's checks with no score (LMUnit's unit tests)


def record_messages(rec: dict) -> list[dict[str, str]]:
    """The chat a record answered: its optional ``system`` turn, then its ``prompt`` as the user turn."""
    msgs = [] if rec.get("system") is None else [{"role": "system", "content": rec["system"]}]
    return msgs + [{"role": "user", "content": rec["prompt"]}]


def judge_records(records: list[dict], judge: Judge) -> list[dict]:
    """Score every record's K ``responses``; sets ``judge_all`` (K field dicts), ``judge`` (the
    fields of the Top@1 response, ``best_index``) and ``judge_name``, in place. No other key changes.
    Returns ``records``."""
    if not records:
        return records
    scored = judge.score([record_messages(r) for r in records], [list(r["responses"]) for r in records])
    if len(scored) != len(records):
        raise RuntimeError(f"judge {judge.name!r} returned {len(scored)} results for {len(records)} prompts")
    for rec, fields in zip(records, scored, strict=True):
        if len(fields) != len(rec["responses"]):
            raise RuntimeError(
                f"judge {judge.name!r} returned {len(fields)} results for the "
                f"{len(rec['responses'])} responses of sample {rec.get('sample_id')!r}"
            )
        rec["judge_all"] = fields
        rec["judge"] = None if rec["best_index"] is None else fields[rec["best_index"]]  # null: no finite reward
        rec["judge_name"] = judge.name
    return records


def _number(x) -> float | None:
    """A finite int / float / bool as a float; None for null, NaN, inf and non-numbers (strings)."""
    if isinstance(x, (int, float)) and math.isfinite(x):  # bool is an int
        return float(x)
    return None


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def judge_summary(records: list[dict]) -> dict:
    """The judge's keys for metrics.json, over the records that were judged:

    - ``judge``: the judge's name (``judge_name`` of the records);
    - ``judge_<field>_mean``: mean over prompts of the Top@1 response's numeric / bool field
      (``judge_score_mean`` for the primary score); null and NaN values are left out;
    - ``judge_score_avgN_mean``: mean over prompts of the mean ``score`` over all K responses;
    - ``judge_failures``: the sum of the ``failures`` field (LMUnit: unit tests with no score) over
      every judged response, all K of every record; absent when no judge reports ``failures``
      (a count, so it gets no ``judge_failures_mean``).

    Empty when no record was judged.
    """
    judged = [r for r in records if isinstance(r.get("judge"), dict)]
    if not judged:
        return {}
    names = sorted({str(r.get("judge_name")) for r in judged if r.get("judge_name") is not None})
    out: dict = {"judge": names[0] if len(names) == 1 else ",".join(names) if names else None}
    keys = sorted({k for r in judged for k in r["judge"]} - {FAILURES})
    for key in keys:
        mean = _mean([_number(r["judge"].get(key)) for r in judged])
        if mean is not None:
            out[f"judge_{key}_mean"] = mean
    per_prompt = [_mean([_number(f.get("score")) for f in r.get("judge_all", [])]) for r in judged]
    avg_n = _mean(per_prompt)
    if avg_n is not None:
        out["judge_score_avgN_mean"] = avg_n
    counts = [f[FAILURES] for r in records for f in (r.get("judge_all") or []) if isinstance(f, dict) and FAILURES in f]
    if counts:
        out["judge_failures"] = int(sum(_number(c) or 0 for c in counts))
    return out
