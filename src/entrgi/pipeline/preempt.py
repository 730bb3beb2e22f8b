"""A clean stop on SIGTERM, SIGUSR1 or Ctrl-C: the batch in flight is written, then the run ends.

SLURM sends SIGTERM at preemption and at the time limit (after ``--signal`` / GraceTime), and
Lightning's SLURM plugin uses SIGUSR1 for requeue. :class:`StopSignals` turns them into a request
that :class:`entrgi.pipeline.callbacks.stop.StopAfterBatch` honours once the batch in flight is
written (its shard lines and the running stats), raising :class:`RunStopped`: a ``SystemExit`` with
code 128 + the signal number, so the process exits non-zero without a traceback and the message says
how to resume. A second Ctrl-C stops at once (``KeyboardInterrupt``). Under SLURM, SIGUSR1 also
requeues the job (``scontrol requeue``), and a requeued job (``SLURM_RESTART_COUNT`` > 0) resumes
by itself (:func:`slurm_requeued`). ``launcher=slurm`` (submitit) signals SIGUSR2 before the time
limit; the handler that was there before (submitit's: requeue, then exit) is called once the batch
is written, instead of in the middle of it.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import threading

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)
HANDED_OVER = (signal.SIGUSR2,)  # submitit's time-limit signal: its own handler requeues, after the batch


class RunStopped(SystemExit):
    """The run stopped on a signal after writing its last finished batch; resume with ``resume=true``."""

    def __init__(self, signum: int, message: str):
        super().__init__(128 + signum)
        self.signum, self.message = signum, message

    def __str__(self) -> str:
        return self.message


def slurm_requeued() -> bool:
    """This process is a SLURM job that was requeued (preempted, or requeued on SIGUSR1)."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0")) > 0
    except ValueError:
        return False


def resume_command() -> str:
    """The command that started this process with ``resume=true`` in place of any ``resume=...``."""
    args = [a for a in sys.argv[1:] if not a.lstrip("+").startswith("resume=")]
    return " ".join(["python -m entrgi.run", *map(shlex.quote, args), "resume=true"])


class StopSignals:
    """``with StopSignals() as stop:`` SIGTERM / SIGUSR1 / SIGINT set ``stop.signum`` (the handlers
    before it are restored on exit). Installed in the main thread only (a no-op elsewhere)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame) -> None:
        if signum == signal.SIGINT and self.signum is not None:
            raise KeyboardInterrupt  # the second Ctrl-C: now
        if self.signum is None:
            self.signum = signum
            log.warning(
                "received %s: stopping after the batch in flight is written%s",
                signal.Signals(signum).name,
                " (Ctrl-C again to stop now)" if signum == signal.SIGINT else "",
            )

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def stopped(self, written: int, total: int, unit: str = "prompts") -> RunStopped:
        """The exception that ends the run (and, for SIGUSR1 under SLURM, the requeue it asked for)."""
        assert self.signum is not None
        name = signal.Signals(self.signum).name
        previous = self._previous.get(self.signum)
        if self.signum in HANDED_OVER and callable(previous):
            log.warning("%s: the batch in flight is written; handing over to the launcher's handler", name)
            previous(self.signum, None)  # submitit: requeues this job and exits
        requeued = self.signum == signal.SIGUSR1 and _requeue()
        message = (
            f"stopped on {name} once the batch in flight was written ({written} of this invocation's {total} "
            "prompts written by this process); "
            if unit == "prompts"
            else f"stopped on {name} once the step in flight was checkpointed ({written} of {total} {unit} done); "
        ) + (
            "the SLURM job is requeued and will resume by itself"
            if requeued
            else f"resume with resume=true: {resume_command()}"
        )
        return RunStopped(self.signum, message)


def _requeue() -> bool:
    """``scontrol requeue`` this SLURM job (global rank 0 only); False outside SLURM or on failure."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    job = f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID")
    if not job or rank_zero_only.rank != 0:
        return False
    try:
        done = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        log.warning("could not requeue SLURM job %s: %s", job, err)
        return False
    if done.returncode != 0:
        log.warning("scontrol requeue %s failed (%d): %s", job, done.returncode, done.stderr.strip())
    return done.returncode == 0
