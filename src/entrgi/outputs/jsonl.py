"""JSON Lines files of a run folder (``generations.jsonl``, ``shards/rank{R}.jsonl``): the one reader and
its one policy for a torn last line, plus append, repair, merge and an atomic rewrite.

The policy, for every reader (the writer's resume, the report, the re-judge, the pipeline's summary):

- a line counts once its newline is written. A last line without one is a torn write (a writer killed
  mid-line): it is skipped, with a warning naming the file; :func:`repair` cuts it off before anything
  is appended, and a resumed run redoes its sample;
- a blank line is skipped;
- a complete line that is not a JSON object, or lacks a field the caller requires, is an error
  (:class:`~entrgi.outputs.files.RunFolderError`) naming the file and the line: it is a damaged file,
  not an interrupted write, and skipping it would silently drop (or, on resume, regenerate) a sample.

Lines are kept byte for byte (``line`` with its newline), so a merge copies records unchanged.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from entrgi.outputs.atomic import write_bytes
from entrgi.outputs.files import RunFolderError

log = logging.getLogger(__name__)


def read_lines(path: Path | str, required: Iterable[str] = ()) -> list[tuple[dict, str]]:
    """``(record, line)`` for each complete line of ``path`` (none if it does not exist), under the
    module's policy; every record must hold the fields in ``required``."""
    path = Path(path)
    if not path.exists():
        return []
    *complete, torn = path.read_bytes().split(b"\n")  # torn: b"" when the file ends with a newline
    if torn.strip():
        log.warning(
            "%s: skipped a torn last line (%d bytes without a newline), left by an interrupted write",
            path,
            len(torn),
        )
    required = tuple(required)
    out = []
    for number, raw in enumerate(complete, 1):
        if not raw.strip():
            continue
        record = _parse(path, number, raw)
        missing = [key for key in required if key not in record]
        if missing:
            raise RunFolderError(
                f"{path} line {number} has no {missing[0]!r} field; is it an entrgi generations file? "
                "Remove the line, or regenerate the run"
            )
        out.append((record, raw.decode("utf-8") + "\n"))
    return out


def _parse(path: Path, number: int, raw: bytes) -> dict:
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        record, reason = None, str(err)
    else:
        reason = f"a JSON {type(record).__name__}, not an object"
    if not isinstance(record, dict):
        raise RunFolderError(
            f"{path} line {number} is not a JSON record ({reason}); the file is damaged (a torn write is only "
            "ever the last line). Remove the line (resume=true then redoes its sample) or regenerate the run"
        )
    return record


def read_records(path: Path | str, required: Iterable[str] = ()) -> list[dict]:
    """The records of ``path`` under the module's policy."""
    return [record for record, _ in read_lines(path, required)]


def repair(path: Path | str) -> int:
    """Cut a torn last line (no newline) off ``path`` so the next append starts a fresh line.
    Returns the number of bytes dropped."""
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        with path.open("r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
        log.warning(
            "%s: dropped a torn last line (%d bytes) left by an interrupted run; it is redone", path, len(data) - keep
        )
    return len(data) - keep


def append(path: Path | str, records: Iterable[dict]) -> None:
    """Append one line per record, flushed and fsynced: a crash keeps every line written before it."""
    with Path(path).open("a", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write(path: Path | str, records: Iterable[dict]) -> None:
    """Replace ``path`` with one line per record, atomically."""
    write_bytes(path, "".join(json.dumps(r) + "\n" for r in records).encode("utf-8"))


def merge(target: Path | str, sources: Iterable[Path], order: dict[str, int], key: str = "sample_id") -> int:
    """Rewrite ``target`` (atomically) as one line per ``key`` from ``target`` and then ``sources``
    (the first line of a key wins, so records already in ``target`` are kept), in the order of
    ``order`` (keys not in it last, as found). Lines are copied byte for byte. Returns the line count."""
    by_key = {r[key]: line for r, line in read_lines(target, (key,))}
    for source in sources:
        for r, line in read_lines(source, (key,)):
            by_key.setdefault(r[key], line)
    ordered = sorted(by_key, key=lambda k: order.get(k, len(order)))
    write_bytes(target, "".join(by_key[k] for k in ordered).encode("utf-8"))
    return len(ordered)
