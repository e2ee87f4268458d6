"""The scheduler: a detached process per workspace that runs queued jobs and forwards their events to MLflow.

Why not huey (which MLflow installs) or another SQLite-backed task queue: those keep their own table of pickled
task messages, which would be a second copy of job state beside the `jobs` table every face reads, and their retry
model covers a Python exception inside a worker, not a child process killed by SIGKILL or the OOM killer. What we
need is small: an atomic "claim the oldest queued job on a free device" (one UPDATE in a BEGIN IMMEDIATE
transaction), a child process per job, and a liveness check. So the jobs table *is* the queue.

The scheduler is started on demand by whoever submits (kernel, server, CLI), holds an exclusive lock file so only
one runs per workspace, survives the kernel and the Jupyter server (own session, stdio in files), adopts jobs a
previous scheduler started, and exits by itself after `JUPYTER_FT_SCHEDULER_IDLE` seconds with nothing to do.
Where jobs run is an `Executor`: local processes (one, or several under accelerate) or a Ray cluster
(`core/jobs/executors/`), chosen per job by its spec.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from jupyter_ft.core import procs
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.daemon import _try_lock
from jupyter_ft.core.jobs.executors import Executor, RunningJob
from jupyter_ft.core.workspace import Workspace

IDLE_ENV = "JUPYTER_FT_SCHEDULER_IDLE"
CANCEL_GRACE_S = 15.0
POLL_S = 1.0  # between passes; submitters and jobs wake the scheduler at once with SIGUSR1


# --- the loop ---------------------------------------------------------------------------------------------------

class Scheduler:
    def __init__(self, ws: Workspace, executor: Executor | None = None, idle_timeout: float | None = None):
        self.ws = ws
        if executor is None:
            from jupyter_ft.core.jobs.executors import default_executor

            executor = default_executor()
        self.executor = executor
        self.idle_timeout = idle_timeout if idle_timeout is not None else float(os.environ.get(IDLE_ENV, "120"))
        self.children: dict[str, RunningJob] = {}
        self.stopping = threading.Event()
        self.wake = threading.Event()

    def log(self, msg: str) -> None:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [scheduler {os.getpid()}] {msg}", flush=True)

    def run(self) -> int:
        lock = _try_lock(self.ws)
        if lock is None:
            return 0  # another scheduler holds the workspace
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        signal.signal(signal.SIGTERM, lambda *_: (self.stopping.set(), self.wake.set()))
        signal.signal(signal.SIGUSR1, lambda *_: self.wake.set())
        signal.signal(signal.SIGCHLD, lambda *_: self.wake.set())  # a job ended: start the next one now
        from jupyter_ft.core.jobs.forwarder import Forwarder

        forwarder = Forwarder(self.ws, self.stopping)
        forwarder.start()
        self.log(f"started for {self.ws.root}")
        last_busy = time.time()
        try:
            while not self.stopping.is_set():
                busy = self.tick()
                if busy or forwarder.busy():
                    last_busy = time.time()
                elif time.time() - last_busy > self.idle_timeout:
                    self.log("idle; exiting")
                    break
                self.wake.wait(POLL_S)
                self.wake.clear()
        finally:
            self.stopping.set()
            forwarder.join(timeout=30)
            lock.close()
        return 0

    def tick(self) -> bool:
        """One pass: reap, watch, escalate cancels, start jobs. Returns True while there is work."""
        for job_id, child in list(self.children.items()):
            rc = child.poll()
            if rc is not None:
                del self.children[job_id]
                self.on_exit(job_id, rc)
        running = jobstore.list_jobs(self.ws, ["running"])
        for job in running:
            if job.id in self.children:
                if job.cancel_requested and job.cancel_at and time.time() - job.cancel_at > CANCEL_GRACE_S:
                    procs.signal_group(self.children[job.id].pid, signal.SIGKILL)
                continue
            if not procs.alive(job.pid, job.pid_started):
                self.on_exit(job.id, None)
            elif job.cancel_requested and job.cancel_at and time.time() - job.cancel_at > CANCEL_GRACE_S:
                procs.signal_group(job.pid, signal.SIGKILL)
        busy_devices = {j.device for j in jobstore.list_jobs(self.ws, ["running"])}
        while (job := jobstore.claim_next(self.ws, busy_devices)) is not None:
            self.start(job)
            busy_devices.add(job.device)
        serving = self.supervise_endpoints()
        return bool(self.children) or bool(jobstore.list_jobs(self.ws, ["running", "queued"])) or serving

    def supervise_endpoints(self) -> bool:
        """Restart endpoint servers that died (`core.deploy.endpoints.supervise`); True while any endpoint wants to run,
        which keeps the scheduler alive. A failure here is logged and never stops job scheduling."""
        from jupyter_ft.core.deploy import endpoints

        try:
            return endpoints.supervise(self.ws, self.log)
        except Exception as exc:
            self.log(f"endpoint supervision failed: {type(exc).__name__}: {exc}")
            return True

    def start(self, job: jobstore.JobRecord) -> None:
        try:
            child = self.executor.start(self.ws, job)
        except OSError as exc:
            jobstore.finish(self.ws, job.id, "failed", f"could not start the job process: {exc}")
            return
        self.children[job.id] = child
        jobstore.set_fields(self.ws, job.id, pid=child.pid, pid_started=procs.create_time(child.pid))
        self.log(f"started {job.id} attempt {job.attempt}/{job.max_attempts} pid {child.pid}")

    def on_exit(self, job_id: str, rc: int | None) -> None:
        """The job's process is gone. If it did not record an outcome itself, it died: retry or fail."""
        job = jobstore.get(self.ws, job_id)
        if job.state != "running":
            self.log(f"{job_id} ended: {job.state}")
            return
        how = procs.describe_exit(rc)
        if job.cancel_requested:
            jobstore.finish(self.ws, job_id, "cancelled", f"cancelled ({how})")
        elif job.attempt < job.max_attempts:
            jobstore.requeue(self.ws, job_id, f"attempt {job.attempt} died ({how}); retrying from the last checkpoint")
            self._note(job_id, f"attempt {job.attempt} died ({how}); requeued to resume from the last checkpoint")
        else:
            jobstore.finish(self.ws, job_id, "failed", f"the job process died {job.attempt} times; last: {how}")
            self._note(job_id, f"attempt {job.attempt} died ({how}); no attempts left")
        self.log(f"{job_id}: process ended ({how})")

    def _note(self, job_id: str, text: str) -> None:
        with open(self.ws.job_dir(job_id) / "job.log", "a") as fh:
            fh.write(f"\n[jupyter_ft] {text}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jupyter_ft.core.jobs.scheduler")
    ap.add_argument("--root", required=True)
    ap.add_argument("--idle-timeout", type=float, default=None)
    a = ap.parse_args(argv)
    return Scheduler(Workspace(Path(a.root)), idle_timeout=a.idle_timeout).run()


if __name__ == "__main__":
    sys.exit(main())
