"""Forward job events to MLflow from the scheduler process.

A job process writes its metrics, dataset input, artifacts and final status to the workspace event log and
never talks to MLflow itself: training does not pay MLflow's ~2 s import nor wait on a slow or unreachable
tracking server, and an outage loses nothing (events stay pending and are retried with back-off). Events of one
job are sent in order; an event that keeps failing for a non-transient reason is given up after
`MAX_ATTEMPTS` and recorded on the event (`last_error`) and in the scheduler log.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback

from jupyter_ft.core import tracking
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.workspace import Workspace

BATCH = 500
MAX_ATTEMPTS = 8
GAVE_UP = -1
BACKOFF_ENV = "JUPYTER_FT_RETRY_MAX_S"  # the longest wait between two tries of an event (default 60 s)


class Forwarder(threading.Thread):
    def __init__(self, ws: Workspace, stopping: threading.Event, poll: float = 1.0):
        super().__init__(name="jupyter_ft-forwarder", daemon=True)
        self.ws = ws
        self.stopping = stopping
        self.poll = poll
        self._pending = True
        self._retry_after: dict[str, float] = {}

    def busy(self) -> bool:
        return self._pending

    def run(self) -> None:
        # Load MLflow now, while a job process is still importing torch, rather than later in the middle of its
        # training steps (on a 2-core machine that import would compete with training for CPU).
        try:
            tracking.client(self.ws.tracking_uri).search_experiments(max_results=1)
        except Exception:
            traceback.print_exc()
        while True:
            try:
                sent = self.forward_once()
            except Exception:  # never let the thread die; the scheduler log shows why
                traceback.print_exc()
                sent = 0
            if self.stopping.is_set() and (sent == 0 or not self._pending):
                # drain what we can before exiting, but never hang shutdown on an unreachable server
                return
            if sent == 0:
                self.stopping.wait(self.poll)

    def forward_once(self) -> int:
        rows = self.ws.conn.execute(
            "SELECT seq, job_id, kind, step, payload, ts, attempts FROM events WHERE forwarded = 0 ORDER BY seq LIMIT ?",
            (BATCH,),
        ).fetchall()
        self._pending = bool(rows)
        if not rows:
            return 0
        sent = 0
        blocked: set[str] = set()
        now = time.time()
        # Consecutive metrics events of a job go out as one batch.
        for job_id, group in _group(rows):
            if job_id in blocked or self._retry_after.get(job_id, 0) > now:
                continue
            try:
                job = jobstore.get(self.ws, job_id)
            except jobstore.JobNotFound:
                self._mark([r["seq"] for r in group], GAVE_UP, "job not found")
                continue
            if not job.mlflow_run_id:
                if now - job.created_at < 30:
                    blocked.add(job_id)  # the submitter is still creating the run
                    continue
                if not self._create_run(job):
                    blocked.add(job_id)
                    continue
                job = jobstore.get(self.ws, job_id)
            uri = job.tracking_uri or tracking.tracking_uri_for(self.ws, job.spec)
            try:
                self._send(uri, job.mlflow_run_id, group)
            except Exception as exc:
                blocked.add(job_id)
                self._failed(job_id, group[0], exc)
                continue
            self._mark([r["seq"] for r in group], 1, None)
            self._retry_after.pop(job_id, None)
            sent += len(group)
        # Events that can only wait (back-off, run not created yet) do not keep the scheduler awake: they stay in
        # the workspace and the next scheduler sends them.
        self._pending = sent > 0
        return sent

    def _send(self, uri: str, run_id: str, group: list) -> None:
        if group[0]["kind"] == "metrics":
            values: list[tuple[int, float, dict]] = []
            for r in group:
                values.append((r["step"], r["ts"], json.loads(r["payload"])["values"]))
            from mlflow.entities import Metric

            ms = [Metric(k, float(v), int(ts * 1000), int(step or 0)) for step, ts, vals in values for k, v in vals.items()]
            for i in range(0, len(ms), 1000):
                tracking.client(uri).log_batch(run_id, metrics=ms[i : i + 1000])
        elif group[0]["kind"] == "register":  # the registry: a new model version from the job's output
            from jupyter_ft.core.registry import versions as registry

            (r,) = group
            ref = registry.register_job(self.ws, r["job_id"], json.loads(r["payload"]))
            print(f"[forwarder] registered {r['job_id']} as {ref}", flush=True)
        else:
            (r,) = group
            tracking.apply_event(uri, run_id, r["kind"], r["step"], json.loads(r["payload"]), r["ts"])

    def _create_run(self, job: jobstore.JobRecord) -> bool:
        try:
            run_id, exp_id, uri = tracking.create_run(self.ws, job.id, job.spec)
        except Exception as exc:
            print(f"[forwarder] cannot create the MLflow run of {job.id}: {exc}", flush=True)
            self._retry_after[job.id] = time.time() + 10
            return False
        jobstore.set_fields(self.ws, job.id, mlflow_run_id=run_id, mlflow_experiment_id=exp_id, tracking_uri=uri)
        return True

    def _failed(self, job_id: str, row, exc: Exception) -> None:
        attempts = row["attempts"] + 1
        msg = f"{type(exc).__name__}: {exc}"[:2000]
        # a registration waits out a registry that cannot be reached (it never gives up on a transient error)
        gives_up = attempts >= MAX_ATTEMPTS and row["kind"] != "register"
        cannot = row["kind"] == "register" and type(exc).__name__ in ("RegistrationError", "ValueError")
        if gives_up or cannot or _permanent(exc):
            print(f"[forwarder] giving up on event {row['seq']} ({row['kind']}) of {job_id}: {msg}", flush=True)
            self._mark([row["seq"]], GAVE_UP, msg, attempts)
        else:
            self._mark([row["seq"]], 0, msg, attempts)
            self._retry_after[job_id] = time.time() + min(float(os.environ.get(BACKOFF_ENV, 60)), 2**attempts)

    def _mark(self, seqs: list[int], state: int, error: str | None, attempts: int | None = None) -> None:
        with self.ws.write() as c:
            for s in seqs:
                if attempts is None:
                    c.execute("UPDATE events SET forwarded = ?, last_error = ? WHERE seq = ?", (state, error, s))
                else:
                    c.execute("UPDATE events SET forwarded = ?, last_error = ?, attempts = ? WHERE seq = ?", (state, error, attempts, s))


def _permanent(exc: Exception) -> bool:
    """MLflow refused the request itself (bad value, missing run): sending it again cannot succeed."""
    code = getattr(exc, "error_code", None)
    return code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "INVALID_STATE", "BAD_REQUEST")


def _group(rows):
    """Split rows (already in seq order) into per-job runs: consecutive metrics of a job batch together."""
    by_job: dict[str, list[list]] = {}
    order: list[tuple[str, int]] = []
    for r in rows:
        groups = by_job.setdefault(r["job_id"], [])
        if groups and r["kind"] == "metrics" and groups[-1][-1]["kind"] == "metrics":
            groups[-1].append(r)
        else:
            groups.append([r])
            order.append((r["job_id"], len(groups) - 1))
    for job_id, i in order:
        yield job_id, by_job[job_id][i]
