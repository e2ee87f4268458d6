"""What every face calls: submit a job, list jobs, get one, cancel it, read its metrics and logs.

    import jupyter_ft as ft
    job = ft.train(model="./tiny", dataset="data.jsonl", technique="sft", lora=True)
    job.wait(); job.metrics(); job.logs()
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from . import catalog, compute, devices, jobstore, peek, procs, progress, sizing
from .metrics import MetricHistory, recent_pace
from .scheduler import ensure_scheduler
from .specs import TECHNIQUE_OPTIONS, SpecError, TrainSpec, parse_spec
from .workspace import Workspace, default_root

_workspaces: dict[Path, Workspace] = {}


def workspace(root: str | Path | None = None) -> Workspace:
    """The workspace at `root`, or the default one (`JUPYTER_FT_HOME` or the Jupyter data dir)."""
    path = Path(root).expanduser().resolve() if root else default_root()
    if path not in _workspaces:
        _workspaces[path] = Workspace(path)
    return _workspaces[path]


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
    def progress(self) -> dict[str, Any]:
        r = self.record
        return progress.job_progress(r, pace=recent_pace(self.ws, self.id) if r.state == "running" else None)

    @property
    def spec(self) -> TrainSpec:
        return TrainSpec.model_validate(self.record.spec)

    @property
    def run_id(self) -> str | None:
        return self.record.mlflow_run_id

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

    def chart(self, **options: Any):
        """A live chart of this job's metrics and progress (a notebook widget; see `jupyter_ft.ui.chart`)."""
        from jupyter_ft.ui import chart  # the face is imported only when asked for

        return chart(self, ws=self.ws, **options)

    def __repr__(self) -> str:
        r = self.record
        p = f" step {r.step}/{r.total_steps}" if r.total_steps else ""
        return f"<Job {self.id} {r.technique} {r.state}{p}>"


def submit(spec: TrainSpec | dict[str, Any] | str | Path, ws: Workspace | None = None) -> Job:
    """Validate, size and queue a job; create its MLflow run. Raises `SpecError` (naming fields) before queueing."""
    ws = ws or workspace()
    if isinstance(spec, TrainSpec):
        submitted = spec.model_dump(mode="json", exclude_unset=True)
    else:
        submitted = dict(spec) if isinstance(spec, dict) else None
    parsed = parse_spec(spec)
    if submitted is None:
        submitted = parsed.model_dump(mode="json", exclude_unset=True)
    else:
        # function objects given as rewards are recorded as the source entries they became
        submitted = {**submitted, **{k: v for k, v in parsed.model_dump(mode="json", exclude_unset=True).items()
                                     if k in TECHNIQUE_OPTIONS and k in submitted}}
    resolved = preview(parsed, ws)
    job_id = jobstore.new_job_id(resolved.technique)
    job_dir = ws.job_dir(job_id)
    job_dir.mkdir(parents=True)
    (job_dir / "spec.yaml").write_text(resolved.to_yaml())
    spec_dict = resolved.model_dump(mode="json")
    jobstore.insert(ws, job_id=job_id, kind=resolved.kind, technique=resolved.technique, name=resolved.name,
                    device=resolved.device, spec=spec_dict, submitted=_jsonable(submitted), max_attempts=resolved.max_attempts)
    ensure_scheduler(ws)
    try:
        from . import tracking

        run_id, exp_id, uri = tracking.create_run(ws, job_id, spec_dict)
        jobstore.set_fields(ws, job_id, mlflow_run_id=run_id, mlflow_experiment_id=exp_id, tracking_uri=uri)
    except Exception as exc:  # the forwarder creates it later; the job does not wait for MLflow
        with open(job_dir / "job.log", "a") as fh:
            fh.write(f"[jupyter_ft] MLflow run not created at submission ({type(exc).__name__}: {exc}); will retry\n")
    return Job(job_id, ws)


def preview(spec: TrainSpec | dict[str, Any] | str | Path, ws: Workspace | None = None) -> TrainSpec:
    """What `submit` would store, without submitting: the spec validated and auto-sized for this machine, with
    `auto` saying why each value was chosen. Raises `SpecError` naming fields. Used by the job form."""
    ws = ws or workspace()
    parsed = parse_spec(spec)
    wrong_data = peek.check_columns(parsed.technique, parsed.dataset)
    if wrong_data:
        raise SpecError([("dataset", wrong_data)])
    try:
        device = devices.resolve(parsed.device, ws.root / "devices.json")
    except ValueError as exc:
        raise SpecError([("device", str(exc))]) from None
    try:
        shape = sizing.model_shape(parsed.model)
    except Exception:  # unreadable here (missing path, no network): the job fails fast with the reason
        shape = None
    resolved = sizing.resolve(parsed, shape, device)
    resolved = compute.resolve(resolved, shape, device, ws)  # processes, strategy, executor refusals
    # a catalog dataset is pinned to an exact version (and its split) so the run is reproducible
    return catalog.resolve_spec(ws, resolved, parsed.model_fields_set)


def _jsonable(d: Any) -> Any:
    import json

    return json.loads(json.dumps(d, default=str))


def train(model: str, dataset: str, technique: str = "sft", *, workspace_root: str | Path | None = None,
          rewards: list[Any] | None = None, judge: dict[str, Any] | None = None, **fields: Any) -> Job:
    """Fine-tune `model` on `dataset`. Any `TrainSpec` field may be given, e.g. `lora=True, learning_rate=1e-4`.

    For GRPO/RLAIF, `rewards=[my_reward, "numeric_answer", {...}]` and `judge={...}` are shorthands for the
    technique's options block (`grpo={"rewards": [...]}`); a function object is shipped as its source code.
    """
    ws = workspace(workspace_root) if workspace_root else None
    if rewards is not None or judge is not None:
        block = dict(fields.get(technique) or {})
        if rewards is not None:
            block["rewards"] = rewards
        if judge is not None:
            block["judge"] = judge
        fields[technique] = block
    return submit({"model": model, "dataset": dataset, "technique": technique, **fields}, ws)


def jobs(ws: Workspace | None = None, states: list[str] | None = None) -> list[Job]:
    ws = ws or workspace()
    return [Job(r.id, ws) for r in jobstore.list_jobs(ws, states)]


def get_job(job_id: str, ws: Workspace | None = None) -> Job:
    return Job(job_id, ws)


def cancel(job_id: str, ws: Workspace | None = None) -> str:
    """Cancel a queued job at once; ask a running one to stop (SIGTERM, SIGKILL after a grace period)."""
    ws = ws or workspace()
    with ws.write() as c:
        row = c.execute("SELECT state, pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise jobstore.JobNotFound(job_id)
        if row["state"] == "running":
            c.execute("UPDATE jobs SET cancel_requested = 1, cancel_at = ? WHERE id = ?", (time.time(), job_id))
    if row["state"] == "queued":
        if jobstore.finish(ws, job_id, "cancelled", "cancelled before it started", only_from=("queued",)):
            return "cancelled"
        return cancel(job_id, ws)  # it started meanwhile
    if row["state"] == "running":
        if row["pid"]:
            procs.signal_group(row["pid"], signal.SIGTERM)
        ensure_scheduler(ws)
        return "cancelling"
    return row["state"]
