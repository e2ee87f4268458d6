"""The local executor: each job a process on this machine, in its own session, its output appended to its log."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Protocol

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.executors.accelerate import job_argv
from jupyter_ft.core.workspace import Workspace


class RunningJob(Protocol):
    pid: int

    def poll(self) -> int | None: ...


class Executor(Protocol):
    """Starts a claimed job somewhere and returns a handle the scheduler can poll."""

    def start(self, ws: Workspace, job: jobstore.JobRecord) -> RunningJob: ...


# the module each kind of job runs as (`python -m MODULE --root ROOT JOB_ID`)
JOB_MODULES = {"train": "jupyter_ft.training", "eval": "jupyter_ft.evaluation"}


class LocalProcessExecutor:
    """Each job is `python -m jupyter_ft.training <job>` (evaluations: `jupyter_ft.evaluation`) in its own session
    (under `accelerate launch` when a training spec asks for several processes), output appended to the job's log."""

    def start(self, ws: Workspace, job: jobstore.JobRecord) -> subprocess.Popen:
        job_dir = ws.job_dir(job.id)
        job_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        with open(job_dir / "job.log", "ab") as log:
            return subprocess.Popen(
                job_argv(ws, job) if job.kind == "train" else
                [sys.executable, "-m", JOB_MODULES[job.kind], "--root", str(ws.root), job.id],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, cwd=job_dir, env=env,
            )
