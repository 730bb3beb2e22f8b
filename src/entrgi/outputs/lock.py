"""One run per output folder: an exclusive lock held by the run's global rank 0 for the whole run.

The lock is an OS file lock (``filelock``, ``fcntl.flock`` on POSIX) on ``.entrgi.lock``: the OS
drops it when its process ends, however it ends (SIGKILL included), so a lock left by a dead run is
never an obstacle. Beside it ``.entrgi.lock.json`` names the holder (host, pid, start time, command)
for the message a second run gets; a holder file whose lock is free is stale and is replaced (and
said so). The other ranks of a DDP run do not lock: they write their own shards in the folder their
rank 0 holds. On a file system without working ``flock`` (some network mounts) ``filelock`` raises
at acquire; the message says so.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from entrgi.outputs.atomic import write_json
from entrgi.outputs.files import RunFolder

log = logging.getLogger(__name__)


class FolderInUse(RuntimeError):
    """Another live run holds the output folder's lock."""


def _holder(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process (no holder information)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
    return f"pid {holder.get('pid')} on host {holder.get('host')}, since {since}: {holder.get('command', '')}".rstrip(
        ": "
    )


class RunLock:
    """``with RunLock(folder):`` holds ``folder``'s run lock (refusing with :class:`FolderInUse`)."""

    def __init__(self, folder: Path | str):
        run = RunFolder(folder)
        self.folder, self.path, self.holder_path = run.root, run.lock, run.lock_holder
        self._lock = FileLock(str(self.path), timeout=0)

    def acquire(self) -> None:
        try:
            self._lock.acquire()
        except Timeout:
            raise FolderInUse(
                f"paths.output_dir={self.folder} is in use by another run ({_describe(_holder(self.holder_path))}). "
                "Two runs must not write one folder: wait for it to finish, or pass another paths.output_dir. "
                f"(The lock is released when that process ends; {self.path.name} is an OS lock, "
                "never stale once its process is gone.)"
            ) from None
        except OSError as err:
            raise FolderInUse(
                f"cannot lock paths.output_dir={self.folder} ({err}); the file system may not support file locks "
                "(some network mounts): write to a local or lock-capable folder"
            ) from None
        stale = _holder(self.holder_path)
        if stale is not None:
            log.warning(
                "%s: a lock holder record of a run that ended without releasing it (%s); taken over",
                self.folder,
                _describe(stale),
            )
        write_json(
            self.holder_path,
            {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), "command": " ".join(sys.argv)},
        )

    def release(self) -> None:
        if self._lock.is_locked:
            self.holder_path.unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
