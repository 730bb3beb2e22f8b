"""Read an offline W&B run file (``run-*.wandb``) back into its protobuf records.

The file is a LevelDB-style log: a 7-byte file header, then 32 KiB blocks of chunks, each with
a 7-byte header (crc32, little-endian length, type: 1 full, 2 first, 3 middle, 4 last).
"""

from __future__ import annotations

import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024


def read_records(path: Path) -> list:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", "not a W&B run file"
    pos, pending, records = 7, b"", []
    while pos + 7 <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < 7:  # block trailer padding
            pos += left_in_block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            pos += BLOCK - pos % BLOCK if pos % BLOCK else 0
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            rec = wandb_internal_pb2.Record()
            rec.ParseFromString(pending)
            records.append(rec)
            pending = b""
    return records


def summarize_run(path: Path) -> dict:
    """History keys, summary keys, config keys, the group and the logged media of a run file."""
    out = {"history": set(), "summary": set(), "config": set(), "group": None, "history_rows": []}
    for rec in read_records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "history":
            row = {(i.key or "/".join(i.nested_key)): i.value_json for i in rec.history.item}
            out["history"].update(row)
            out["history_rows"].append(row)
        elif kind == "summary":
            out["summary"].update(i.key or "/".join(i.nested_key) for i in rec.summary.update)
        elif kind == "config":
            out["config"].update(i.key for i in rec.config.update)
        elif kind == "run":
            out["group"] = rec.run.run_group
            out["config"].update(i.key for i in rec.run.config.update)
    return out
