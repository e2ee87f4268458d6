"""The workspace's scheduler as a daemon: start it unless it runs (one per workspace, held by a file lock), wake
it, stop it. Everything that queues work calls `ensure_scheduler`; the loop itself is `jupyter_ft.core.jobs.scheduler`,
started here by name in its own process."""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time

from jupyter_ft.core import procs
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.workspace import Workspace


def _try_lock(ws: Workspace):
    fh = open(ws.scheduler_lock, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def scheduler_pid(ws: Workspace) -> int | None:
    """The pid of the running scheduler, or None if none holds the lock."""
    fh = _try_lock(ws)
    if fh is not None:
        fh.close()
        return None
    try:
        return int(ws.scheduler_lock.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def ensure_scheduler(ws: Workspace, wake: bool = True) -> None:
    """Start the workspace's scheduler unless one is running, or wake the running one (SIGUSR1) so it looks at
    the queue now instead of at its next pass. Safe to call from many processes at once."""
    pid = scheduler_pid(ws)
    if pid is not None:
        if wake:
            try:
                os.kill(pid, signal.SIGUSR1)
            except (ProcessLookupError, PermissionError):
                pass
        return
    launch = "import sys; from jupyter_ft.core.jobs.scheduler import main; sys.exit(main())"
    procs.spawn_detached([sys.executable, "-c", launch, "--root", str(ws.root)], ws.scheduler_log)


def stop_scheduler(ws: Workspace, *, kill_jobs: bool = False, timeout: float = 10.0) -> None:
    """Stop the scheduler (jobs keep running unless `kill_jobs`). Used by tests and `jupyter-ft scheduler stop`."""
    if kill_jobs:
        for job in jobstore.list_jobs(ws, ["running"]):
            if job.pid:
                procs.signal_group(job.pid, signal.SIGKILL)
    pid = scheduler_pid(ws)
    if pid:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.time() + timeout
        while time.time() < deadline and scheduler_pid(ws) is not None:
            time.sleep(0.05)
        if scheduler_pid(ws) is not None:
            os.kill(pid, signal.SIGKILL)
