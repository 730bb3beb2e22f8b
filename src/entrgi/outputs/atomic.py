"""Every whole-file write of a run folder: a temp file in the same folder, flush, fsync, rename.

A reader (another process, a resumed run, a crash) sees the old file or the new one, never half of
one: the rename is atomic on POSIX within one folder, and the data is on disk before it happens.
If anything fails before the rename, the temp file is removed and the old file is left as it was.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def write_bytes(path: Path | str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (the folder must exist)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}")
    try:
        with tmp.open("xb") as f:  # default permissions, as a plain write would have
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def write_text(path: Path | str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path | str, value: Any) -> None:
    """``value`` as indented JSON with a final newline."""
    write_text(path, json.dumps(value, indent=2) + "\n")


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; some file systems refuse to fsync a folder (then it is skipped)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
