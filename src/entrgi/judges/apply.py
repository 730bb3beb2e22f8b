"""Judging records (lines of generations.jsonl) and summarizing the judges' fields for metrics.json.

A record keeps one block per judge under ``judges`` (``{key: {"top1", "all", "identity"}}``), keyed by the
judge's identity (:func:`block_key`: its name, and its checkpoint when another checkpoint of that judge already
has the name), so judging again with another judge, or another checkpoint of the same judge, adds a block and
judging with the same judge and checkpoint replaces only its own; the flat ``judge`` / ``judge_all`` /
``judge_name`` are the most recently applied judge's (``judge_name``: its block's key).
``metrics.json`` mirrors it: ``judges: {name: summary}`` next to the flat ``judge`` / ``judge_*`` keys.
"""

from __future__ import annotations

import math

from entrgi.engine.types import PromptItem
from entrgi.judges.base import Judge

FAILURES = "failures"  # a judge's count of a response's checks with no score (LMUnit's unit tests)
JUDGES = "judges"  # records' and metrics.json's per-judge blocks, keyed by the judge's name
UNNAMED = "unnamed"  # the block name of an old flat judgement that has no judge_name


def record_messages(rec: dict) -> list[dict[str, str]]:
    """The chat a record answered: its optional ``system`` turn, then its ``prompt`` as the user turn."""
    return PromptItem(rec.get("sample_id", ""), rec["prompt"], rec.get("system")).messages()


def record_judges(rec: dict) -> dict[str, dict]:
    """A record's judgements by judge name: its ``judges`` blocks or, for a record written before them
    (flat ``judge`` / ``judge_all`` / ``judge_name`` only), that one judgement as a block keyed by its
    ``judge_name``. Empty for a record never judged. The record itself is not changed."""
    blocks = rec.get(JUDGES)
    if isinstance(blocks, dict):
        return blocks
    if "judge" not in rec and "judge_all" not in rec:
        return {}
    block = {"top1": rec.get("judge")}
    if "judge_all" in rec:
        block["all"] = rec["judge_all"]
    return {str(rec.get("judge_name") or UNNAMED): block}


def _tag(identity: str) -> str:
    """``RewardModelJudge:Skywork/Skywork-Reward-V2-Qwen3-8B`` -> ``Skywork-Reward-V2-Qwen3-8B`` (with any
    ``+unit_tests:<hash>`` kept); an identity with no checkpoint as it is."""
    head, plus, rest = identity.partition("+")
    checkpoint = head.split(":", 1)[1] if ":" in head else head
    return checkpoint.rstrip("/").rsplit("/", 1)[-1] + plus + rest


def block_key(blocks: dict[str, dict], name: str, identity: str | None) -> str:
    """The key a judgement by judge ``name`` with ``identity`` takes in a record's ``blocks``: the key of the
    block with the same identity (a re-judge replaces its own block); else ``name`` when it is free or held by a
    block of no recorded identity, or when this judgement has none (as before identities were kept); else
    ``name[<checkpoint>]`` (a second checkpoint of one judge keeps the first one's block)."""
    if identity:
        same = next((k for k, b in blocks.items() if isinstance(b, dict) and b.get("identity") == identity), None)
        if same is not None:
            return same
    held = blocks.get(name)
    if not identity or held is None or not (isinstance(held, dict) and held.get("identity")):
        return name
    key, n = f"{name}[{_tag(identity)}]", 2
    while key in blocks:
        key, n = f"{name}[{_tag(identity)}#{n}]", n + 1
    return key


def judge_records(records: list[dict], judge: Judge, identity: str | None = None) -> list[dict]:
    """Score every record's K ``responses`` with ``judge``, in place, and return ``records``.

    Sets the judge's block ``judges[key]`` (:func:`block_key`): ``top1`` (the fields of the Top@1 response,
    ``best_index``; null when no reward was finite), ``all`` (K field dicts) and ``identity`` (the
    judge's class and checkpoint as in the run identity's ``judge``: ``identity``, else
    ``judge.identity`` when the judge has one). Other judges' blocks stay as they are (an old flat
    judgement becomes its own block first); ``judge``, ``judge_all`` and ``judge_name`` (the key) are set to
    this judge's. No other key changes."""
    if not records:
        return records
    identity = identity if identity is not None else getattr(judge, "identity", None)
    scored = judge.score([record_messages(r) for r in records], [list(r["responses"]) for r in records])
    if len(scored) != len(records):
        raise RuntimeError(f"judge {judge.name!r} returned {len(scored)} results for {len(records)} prompts")
    for rec, fields in zip(records, scored, strict=True):
        if len(fields) != len(rec["responses"]):
            raise RuntimeError(
                f"judge {judge.name!r} returned {len(fields)} results for the "
                f"{len(rec['responses'])} responses of sample {rec.get('sample_id')!r}"
            )
        top1 = None if rec["best_index"] is None else fields[rec["best_index"]]  # null: no finite reward
        blocks = dict(record_judges(rec))  # before the flat fields change: an old judgement keeps its block
        key = block_key(blocks, judge.name, identity)
        blocks[key] = {"top1": top1, "all": fields} | ({"identity": identity} if identity else {})
        rec["judge_all"] = fields
        rec["judge"] = top1
        rec["judge_name"] = key
        rec[JUDGES] = blocks
    return records


def _number(x) -> float | None:
    """A finite int / float / bool as a float; None for null, NaN, inf and non-numbers (strings)."""
    if isinstance(x, (int, float)) and math.isfinite(x):  # bool is an int
        return float(x)
    return None


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _summarize(judgements: list[tuple[str | None, dict | None, list | None]]) -> dict:
    """:func:`judge_summary` of (judge name, Top@1 fields, all K fields) per record."""
    judged = [j for j in judgements if isinstance(j[1], dict)]
    if not judged:
        return {}
    names = sorted({str(name) for name, _, _ in judged if name is not None})
    out: dict = {"judge": names[0] if len(names) == 1 else ",".join(names) if names else None}
    keys = sorted({k for _, top1, _ in judged for k in top1} - {FAILURES})
    for key in keys:
        mean = _mean([_number(top1.get(key)) for _, top1, _ in judged])
        if mean is not None:
            out[f"judge_{key}_mean"] = mean
    per_prompt = [_mean([_number(f.get("score")) for f in every or []]) for _, _, every in judged]
    avg_n = _mean(per_prompt)
    if avg_n is not None:
        out["judge_score_avgN_mean"] = avg_n
    counts = [f[FAILURES] for _, _, every in judgements for f in (every or []) if isinstance(f, dict) and FAILURES in f]
    if counts:
        out["judge_failures"] = int(sum(_number(c) or 0 for c in counts))
    return out


def judge_summary(records: list[dict]) -> dict:
    """The flat judge keys for metrics.json (the most recently applied judge of each record), over
    the records that were judged:

    - ``judge``: the judge's name (``judge_name`` of the records);
    - ``judge_<field>_mean``: mean over prompts of the Top@1 response's numeric / bool field
      (``judge_score_mean`` for the primary score); null and NaN values are left out;
    - ``judge_score_avgN_mean``: mean over prompts of the mean ``score`` over all K responses;
    - ``judge_failures``: the sum of the ``failures`` field (LMUnit: unit tests with no score) over
      every judged response, all K of every record; absent when no judge reports ``failures``
      (a count, so it gets no ``judge_failures_mean``).

    Empty when no record was judged.
    """
    return _summarize([(r.get("judge_name"), r.get("judge"), r.get("judge_all")) for r in records])


def summary_block(summary: dict, identity: str | None = None) -> dict:
    """One judge's block of metrics.json's ``judges`` from its :func:`judge_summary`: ``identity``
    (when known) and the ``judge_*`` keys without their prefix (``score_mean``, ``score_avgN_mean``,
    ``<field>_mean``, ``failures``)."""
    block = {"identity": identity} if identity else {}
    return block | {k[len("judge_") :]: v for k, v in summary.items() if k.startswith("judge_")}


def judges_summary(records: list[dict]) -> dict[str, dict]:
    """metrics.json's ``judges``: per judge name (in the order the records first name them), the
    :func:`summary_block` over the records that hold that judge's block (:func:`record_judges`), its
    ``identity`` the blocks' own (several distinct ones joined by commas). Empty when nothing was judged."""
    names = list(dict.fromkeys(name for r in records for name in record_judges(r)))
    out: dict[str, dict] = {}
    for name in names:
        blocks = [b for r in records if isinstance(b := record_judges(r).get(name), dict)]
        summary = _summarize([(name, b.get("top1"), b.get("all")) for b in blocks])
        identities = sorted({str(b["identity"]) for b in blocks if b.get("identity")})
        block = summary_block(summary, ",".join(identities) or None)
        if block:
            out[name] = block
    return out
