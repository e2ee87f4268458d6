"""The local executor: each job a process on this machine, in its own session, its output appended to its log."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Protocol

from jupyter_ft.core import threads
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
        choice = threads.for_workload(ws, f"job {job.id}", job.spec, job.device, _processes(job))
        if choice is not None:  # before torch starts in the job process: it sizes its pools from these
            env.update(choice.env())
            if choice.by_rule and _processes(job) == 1:  # one process follows the rule as the machine changes
                env.update(threads.resize_env(ws, f"job {job.id}", job_dir))
            threads.record(job_dir, choice)
            jobstore.append_event(ws, job.id, "tag", {"jupyter_ft.torch_threads": choice.line()})
        with open(job_dir / "job.log", "ab") as log:
            if choice is not None:
                log.write(f"[jupyter_ft] {choice.line()}\n".encode())
                log.flush()
            return subprocess.Popen(
                job_argv(ws, job) if job.kind == "train" else
                [sys.executable, "-m", JOB_MODULES[job.kind], "--root", str(ws.root), job.id],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, cwd=job_dir, env=env,
            )


def _processes(job: jobstore.JobRecord) -> int:
    """Processes a job starts on this machine (a training spec's `compute.processes`; else 1)."""
    compute = job.spec.get("compute") if job.kind == "train" else None
    return int((compute or {}).get("processes") or 1)
