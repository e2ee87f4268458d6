"""Process helpers: start detached, check liveness without pid-reuse mistakes, signal a process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at `host` now (IPv4 or IPv6), for a server to bind next."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# A tiny launcher that starts `argv` in a new session with its output in a file and exits at once, so the
# detached process is re-parented to init and never becomes a zombie of the kernel or the Jupyter server.
_LAUNCH = (
    "import subprocess, sys\n"
    "log = open(sys.argv[1], 'ab')\n"
    "p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,"
    " start_new_session=True, close_fds=True)\n"
    "print(p.pid)\n"
)


def spawn_detached(argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> int:
    """Start `argv` fully detached (own session, stdio to `log_path`); return its pid."""
    out = subprocess.run(
        [sys.executable, "-c", _LAUNCH, str(log_path), *argv],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, check=True,
    )
    return int(out.stdout.strip())


def create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def alive(pid: int | None, started: float | None = None) -> bool:
    """True if `pid` runs and (when `started` is given) is the same process that started then."""
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(p.create_time() - started) < 0.5
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def signal_group(pid: int, sig: int = signal.SIGTERM) -> bool:
    """Signal the process group led by `pid` (job processes lead their own session)."""
    try:
        os.killpg(pid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        try:
            os.kill(pid, sig)
            return True
        except OSError:
            return False


def describe_exit(rc: int | None) -> str:
    if rc is None:
        return "the process disappeared"
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit code {rc}"


def open_job_process(prog: str, argv: list[str] | None, on_sigterm) -> tuple[Any, Any]:
    """The start every job process shares (`python -m MODULE --root ROOT JOB_ID`): parse the arguments, open the
    workspace, install the SIGTERM (= cancel) handler, read the job. Returns `(workspace, job record)`."""
    import argparse
    import signal
    from pathlib import Path

    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.core.workspace import Workspace

    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("--root", required=True)
    ap.add_argument("job_id")
    a = ap.parse_args(argv)
    ws = Workspace(Path(a.root))
    signal.signal(signal.SIGTERM, on_sigterm)
    return ws, jobstore.get(ws, a.job_id)
