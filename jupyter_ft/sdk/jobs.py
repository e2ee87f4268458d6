"""What every face calls: submit a job, list jobs, get one, cancel it, read its metrics and logs.

    import jupyter_ft as ft
    job = ft.train(model="./tiny", dataset="data.jsonl", technique="sft", lora=True)
    job.wait(); job.metrics(); job.logs()
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jupyter_ft.core.datasets import door
from jupyter_ft.core.evaluate.submit import results as eval_results
from jupyter_ft.core.jobs import progress
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs import submit as _submit
from jupyter_ft.core.jobs.metrics import MetricHistory, recent_pace
from jupyter_ft.core.jobs.daemon import ensure_scheduler
from jupyter_ft.core.spec.train import SpecError, TrainSpec
from jupyter_ft.core.registry import versions as registry
from jupyter_ft.core.registry.reproduce import DEFAULT_TOLERANCE, Reproduction, finish, rerun_spec
from jupyter_ft.core.spec.eval import EvalSpec
from jupyter_ft.core.workspace import Workspace, workspace

__all__ = ["EvalJob", "Job", "JobFailed", "SpecError", "TrainSpec", "cancel", "get_job", "jobs", "preview", "reproduce",
           "submit", "train", "workspace"]

class JobFailed(RuntimeError):
    """Raised by `Job.wait(raise_on_failure=True)` when the job ends failed or cancelled."""


class Job:
    """A handle on one job. Every property reads the workspace, so it is always current and survives restarts."""

    def __init__(self, job_id: str, ws: Workspace | None = None):
        self.ws = ws or workspace()
        self.id = job_id
        jobstore.get(self.ws, job_id)  # fail early on an unknown id

    # --- state ---
    @property
    def record(self) -> jobstore.JobRecord:
        return jobstore.get(self.ws, self.id)

    @property
    def status(self) -> str:
        return self.record.state

    @property
    def error(self) -> str | None:
        return self.record.error

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """What the job warned about while it ran: [{code, title, message, step}] (e.g. the over-optimisation guard
        of preference training)."""
        return self.record.warnings

    @property
    def progress(self) -> dict[str, Any]:
        r = self.record
        return progress.job_progress(r, pace=recent_pace(self.ws, self.id) if r.state == "running" else None)

    @property
    def spec(self) -> TrainSpec:
        rec = self.record
        if rec.kind == "eval":
            from jupyter_ft.core.spec.eval import EvalSpec

            return EvalSpec.model_validate(rec.spec)  # type: ignore[return-value]
        return TrainSpec.model_validate(rec.spec)

    @property
    def run_id(self) -> str | None:
        return self.record.mlflow_run_id

    @property
    def registration(self) -> dict[str, Any] | None:
        """Where the registration of this training job's output stands: `{"state": pending|registered|failed|
        skipped, "model": "name@3"|None, "error": ...}` (None for an evaluation). While pending, a scheduler is kept
        running so the forwarder retries it."""
        from jupyter_ft.core.registry.versions import registration_state

        r = self.record
        state = registration_state(self.ws, r)
        if state and state["state"] == "pending" and r.done:
            ensure_scheduler(self.ws, wake=False)
        return state

    def registered(self, timeout: float = 120, poll: float = 0.25):
        """The registered version this job's output became (a `ft.model` handle), waiting for the forwarder to
        register it. Raises `RuntimeError` when it was skipped or failed, `TimeoutError` while still pending."""
        from jupyter_ft.sdk.models import model

        deadline = time.time() + timeout
        while True:
            state = self.registration
            if state is None or state["state"] in ("skipped", "failed"):
                raise RuntimeError(f"job {self.id} has no registered model: "
                                   f"{state['state'] + ' (' + str(state['error']) + ')' if state else 'not a training job'}")
            if state["state"] == "registered":
                return model(state["model"], self.ws)
            if time.time() > deadline:
                raise TimeoutError(f"job {self.id}: registration still pending after {timeout} s ({state['error']})")
            time.sleep(poll)

    @property
    def dir(self) -> Path:
        return self.ws.job_dir(self.id)

    @property
    def output_dir(self) -> Path:
        return Path(self.record.spec.get("output_dir") or self.dir / "output")

    # --- actions ---
    def wait(self, timeout: float | None = None, poll: float = 0.5, raise_on_failure: bool = False) -> Job:
        """Block until the job ends (or `timeout` seconds pass: TimeoutError)."""
        deadline = None if timeout is None else time.time() + timeout
        while True:
            r = self.record
            if r.done:
                if raise_on_failure and r.state != "succeeded":
                    raise JobFailed(f"job {self.id} {r.state}: {r.error}")
                return self
            if deadline is not None and time.time() > deadline:
                raise TimeoutError(f"job {self.id} still {r.state} after {timeout} s (step {r.step}/{r.total_steps})")
            ensure_scheduler(self.ws, wake=False)  # restarts it if it died; does not disturb a live one
            time.sleep(poll)

    def cancel(self) -> str:
        return cancel(self.id, self.ws)

    def logs(self, tail: int | None = None) -> str:
        path = self.dir / "job.log"
        if not path.is_file():
            return ""
        text = path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-tail:]) if tail else text

    def metrics(self) -> list[dict[str, Any]]:
        """Logged metrics in order: [{'step': 5, 'loss': 2.1, ...}]. After a resume, the steps the new attempt
        re-logs replace those of the dead attempt (see `metrics.MetricHistory`)."""
        history = MetricHistory(self.ws, self.id)
        history.poll()
        return history.rows()

    def __repr__(self) -> str:
        r = self.record
        p = f" step {r.step}/{r.total_steps}" if r.total_steps else ""
        return f"<Job {self.id} {r.technique} {r.state}{p}>"



class EvalJob(Job):
    """A handle on an evaluation job: `Job` plus its `EvalSpec` and `results()`."""

    @property
    def spec(self) -> EvalSpec:  # type: ignore[override]
        return EvalSpec.model_validate(self.record.spec)

    def results(self) -> dict[str, Any]:
        return eval_results(self.ws, self.id)

    def __repr__(self) -> str:
        r = self.record
        p = f" {r.step}/{r.total_steps} scored" if r.total_steps else ""
        return f"<EvalJob {self.id} {r.state}{p}>"


def submit(spec: TrainSpec | dict[str, Any] | str | Path, ws: Workspace | None = None, *,
           base_dir: str | Path | None = None, progress: door.ProgressFn | None = None) -> Job:
    """Validate, size and queue a job (training, or an evaluation for a spec of `kind: eval`); a handle on it.
    Raises `SpecError` naming the fields before anything is queued.

    `spec["dataset"]` may be any dataset (see `datasets.door`): it is imported into the catalog and the stored
    spec pins `name@version`. Relative paths are read from `base_dir` (default: this process's working directory)
    and stored absolute."""
    ws = ws or workspace()
    return get_job(_submit.submit(spec, ws, base_dir=base_dir, progress=progress), ws)


def preview(spec: TrainSpec | dict[str, Any] | str | Path, ws: Workspace | None = None, *,
            base_dir: str | Path | None = None, progress: door.ProgressFn | None = None,
            dataset: bool = True) -> TrainSpec:
    """What `submit` would store, without submitting: the spec validated, its paths absolute, its dataset pinned
    and auto-sized for this machine, with `auto` saying why each value was chosen. Raises `SpecError` naming
    fields. `dataset=False` sizes a spec whose dataset is not chosen yet."""
    return _submit.preview(spec, ws, base_dir=base_dir, progress=progress, dataset=dataset)


def train(model: str, dataset: Any, technique: str = "sft", *, ws: Workspace | str | Path | None = None,
          rewards: list[Any] | None = None, judge: dict[str, Any] | None = None, base_dir: str | Path | None = None,
          **fields: Any) -> Job:
    """Fine-tune `model` on `dataset`. Any `TrainSpec` field may be given, e.g. `lora=True, learning_rate=1e-4`.

    `dataset`: a catalog `name[@version]`, a file or folder, a hub id, a pandas DataFrame, a `datasets.Dataset` /
    `DatasetDict` or a list of row dicts; it goes into the catalog and the job is pinned to that version.
    Relative paths are read from the current directory (in a notebook: the notebook's folder).

    For GRPO/RLAIF, `rewards=[my_reward, "numeric_answer", {...}]` and `judge={...}` are shorthands for the
    technique's options block (`grpo={"rewards": [...]}`); a function object is shipped as its source code.
    """
    ws = workspace(ws) if ws else None
    if rewards is not None or judge is not None:
        block = dict(fields.get(technique) or {})
        if rewards is not None:
            block["rewards"] = rewards
        if judge is not None:
            block["judge"] = judge
        fields[technique] = block
    return submit({"model": model, "dataset": dataset, "technique": technique, **fields}, ws, base_dir=base_dir)


def jobs(ws: Workspace | None = None, states: list[str] | None = None) -> list[Job]:
    """Handles on every job of the workspace (training and evaluation), oldest first; `states` keeps only those in
    these states (`queued`, `running`, `succeeded`, `failed`, `cancelled`)."""
    ws = ws or workspace()
    return [Job(r.id, ws) for r in jobstore.list_jobs(ws, states)]


def get_job(job_id: str, ws: Workspace | None = None) -> Job:
    """A handle on any job; an evaluation's is an `EvalJob` (with `results()`)."""
    job = Job(job_id, ws)
    if job.record.kind == "eval":
        return EvalJob(job_id, job.ws)
    return job



def cancel(job_id: str, ws: Workspace | None = None) -> str:
    """Cancel a queued job at once; ask a running one to stop (SIGTERM, SIGKILL after a grace period)."""
    return _submit.cancel(job_id, ws)


def reproduce(ref: str, *, wait: bool = True, timeout: float | None = None, tolerance: float = DEFAULT_TOLERANCE,
              ws: Workspace | None = None) -> Reproduction:
    """Re-submit the exact stored spec of the job that produced `ref`; with `wait`, block until it ends and compare
    its loss curve with the original's (see `Reproduction`). `finish(rep)` compares a rerun started with
    `wait=False` once it has ended."""
    from jupyter_ft.core.jobs import store as jobstore

    ws = ws or workspace()
    mv = registry.resolve_indexed(ws, *registry.version_number(ws, ref))
    if not mv.job_id:
        raise ValueError(f"{mv.ref} records no training job, so there is nothing to re-run")
    try:
        rec = jobstore.get(ws, mv.job_id)
    except jobstore.JobNotFound:
        raise ValueError(f"{mv.ref} was trained by job {mv.job_id}, which this workspace does not hold") from None
    job = submit(rerun_spec(rec.spec), ws)
    rep = Reproduction(ref=mv.ref, original_job=rec.id, job=job, tolerance=tolerance)
    if wait:
        job.wait(timeout=timeout)
        if job.status != "succeeded":
            raise JobFailed(f"the reproduction {job.id} of {mv.ref} {job.status}: {job.error}")
        finish(rep, ws)
    return rep
