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

from . import compute, devices, jobstore, paths, procs, progress, sizing
from .datasets import door
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
        rec = self.record
        if rec.kind == "eval":
            from .eval_spec import EvalSpec

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
        from .registry import registration_state

        r = self.record
        state = registration_state(self.ws, r)
        if state and state["state"] == "pending" and r.done:
            ensure_scheduler(self.ws, wake=False)
        return state

    def registered(self, timeout: float = 120, poll: float = 0.25):
        """The registered version this job's output became (a `ft.model` handle), waiting for the forwarder to
        register it. Raises `RuntimeError` when it was skipped or failed, `TimeoutError` while still pending."""
        from .model_handles import model

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

    def chart(self, **options: Any):
        """A live chart of this job's metrics and progress (a notebook widget; see `jupyter_ft.ui.chart`)."""
        from jupyter_ft.ui import chart  # the face is imported only when asked for

        return chart(self, ws=self.ws, **options)

    def __repr__(self) -> str:
        r = self.record
        p = f" step {r.step}/{r.total_steps}" if r.total_steps else ""
        return f"<Job {self.id} {r.technique} {r.state}{p}>"


def submit(spec: TrainSpec | dict[str, Any] | str | Path, ws: Workspace | None = None, *,
           base_dir: str | Path | None = None, progress: door.ProgressFn | None = None) -> Job:
    """Validate, size and queue a job; create its MLflow run. Raises `SpecError` (naming fields) before queueing.

    `spec["dataset"]` may be any dataset (see `datasets.door`): it is imported into the catalog and the stored
    spec pins `name@version`. Relative paths are read from `base_dir` (default: this process's working directory;
    the REST face passes the Jupyter server's root) and stored absolute."""
    ws = ws or workspace()
    if _is_eval(spec):  # an evaluation spec (kind: eval): the CLI and POST /jobs take both
        from .evaluation import submit_eval

        return submit_eval(spec, ws, base_dir=base_dir)
    spec, data = _take_dataset(spec)
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
    resolved = _resolve(parsed, ws, data, base_dir, progress)
    if data is not None:  # an object given in the kernel is recorded as the version it became
        submitted["dataset"] = resolved.dataset
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


def _is_eval(spec: Any) -> bool:
    if type(spec).__name__ == "EvalSpec":
        return True
    if isinstance(spec, (str, Path)):
        try:
            import yaml

            text = Path(spec).read_text() if isinstance(spec, Path) or (
                "\n" not in str(spec) and str(spec).endswith((".yaml", ".yml", ".json")) and Path(spec).is_file()) else spec
            spec = yaml.safe_load(text)
        except Exception:
            return False
    return isinstance(spec, dict) and spec.get("kind") == "eval"


def _take_dataset(spec: Any) -> tuple[Any, Any]:
    """A dict spec whose `dataset` is an object (DataFrame, rows, Dataset, version) -> (spec with a placeholder
    string, the object), so the spec validates as a spec and the object goes through the dataset door."""
    if isinstance(spec, dict) and "dataset" in spec and not isinstance(spec["dataset"], str):
        obj = spec["dataset"]
        if isinstance(obj, Path):
            return {**spec, "dataset": str(obj)}, None
        return {**spec, "dataset": f"<{type(obj).__name__}>"}, obj
    return spec, None


def preview(spec: TrainSpec | dict[str, Any] | str | Path, ws: Workspace | None = None, *,
            base_dir: str | Path | None = None, progress: door.ProgressFn | None = None,
            dataset: bool = True) -> TrainSpec:
    """What `submit` would store, without submitting: the spec validated, its paths absolute, its dataset pinned
    (imported into the catalog if needed) and auto-sized for this machine, with `auto` saying why each value was
    chosen. Raises `SpecError` naming fields. Used by the job form, which passes `dataset=False` to size a spec
    whose dataset is not chosen yet (everything but the evaluation)."""
    ws = ws or workspace()
    spec, data = _take_dataset(spec)
    return _resolve(parse_spec(spec), ws, data, base_dir, progress, with_dataset=dataset)


def _resolve(parsed: TrainSpec, ws: Workspace, data: Any, base_dir: str | Path | None,
             progress: door.ProgressFn | None, with_dataset: bool = True) -> TrainSpec:
    """Paths made absolute, the dataset pinned, the model's size read, then auto-sizing; every field at fault is
    named in one `SpecError` (a missing model does not hide a bad dataset)."""
    base = Path(base_dir).expanduser() if base_dir else Path.cwd()
    errors: list[tuple[str, str]] = []
    try:
        parsed = _registered_model(ws, parsed)
    except SpecError as exc:
        errors += exc.errors
    spec = parsed
    try:
        spec = paths.resolve(parsed, base)
    except SpecError as exc:
        errors += exc.errors
    try:
        device = devices.resolve(spec.device, ws.root / "devices.json")
    except ValueError as exc:
        errors.append(("device", str(exc)))
    version = None
    bar = progress
    if bar is None and data is None:
        bar = door.StderrProgress(f"importing {parsed.dataset}")
    try:
        if with_dataset:
            spec, version = door.pin_spec(ws, spec, data, base_dir=base, explicit=parsed.model_fields_set,
                                          progress=bar)
    except SpecError as exc:
        errors += exc.errors
    finally:
        if isinstance(bar, door.StderrProgress):
            bar.end()
    shape = None
    if not any(f == "model" for f, _ in errors):
        try:
            shape = sizing.model_shape(spec.model)
        except sizing.HubOffline as exc:
            errors.append(("model", str(exc)))
        except Exception:  # unreadable here (e.g. a gated hub model): the job fails fast with the reason
            shape = None
    if errors:
        raise SpecError(errors)
    resolved = sizing.resolve(spec, shape, device)
    resolved = compute.resolve(resolved, shape, device, ws)  # processes, strategy, executor refusals
    if version is None:
        return resolved
    return sizing.size_eval(resolved, version.num_train, version.num_eval if resolved.eval_fraction else 0)


def _registered_model(ws: Workspace, spec: TrainSpec) -> TrainSpec:
    """`model: name@3` / `name@champion`: train on that registered version (its full weights), recorded in `auto`."""
    from . import registry

    if not registry.looks_like_ref(spec.model) and not registry.is_ref(ws, spec.model):
        return spec
    if Path(spec.model).expanduser().exists():
        return spec
    try:
        mv = registry.resolve(ws, spec.model)
    except registry.UnknownModel as exc:
        raise SpecError([("model", str(exc))]) from None
    if mv.kind == "adapter":
        raise SpecError([("model", f"{spec.model} is {mv.ref}, a LoRA adapter on {mv.base_model}; training starts "
                                   f"from full weights: use its base ({mv.base_model}) or export {mv.ref} merged "
                                   "(ft.export) and train on that folder")])
    auto = {**spec.auto, "model": f"{spec.model} -> registered {mv.ref} ({mv.path})"}
    return spec.model_copy(update={"model": mv.path, "auto": auto})


def _jsonable(d: Any) -> Any:
    import json

    return json.loads(json.dumps(d, default=str))


def train(model: str, dataset: Any, technique: str = "sft", *, workspace_root: str | Path | None = None,
          rewards: list[Any] | None = None, judge: dict[str, Any] | None = None, base_dir: str | Path | None = None,
          **fields: Any) -> Job:
    """Fine-tune `model` on `dataset`. Any `TrainSpec` field may be given, e.g. `lora=True, learning_rate=1e-4`.

    `dataset`: a catalog `name[@version]`, a file or folder, a hub id, a pandas DataFrame, a `datasets.Dataset` /
    `DatasetDict` or a list of row dicts; it goes into the catalog and the job is pinned to that version.
    Relative paths are read from the current directory (in a notebook: the notebook's folder).

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
    return submit({"model": model, "dataset": dataset, "technique": technique, **fields}, ws, base_dir=base_dir)


def jobs(ws: Workspace | None = None, states: list[str] | None = None) -> list[Job]:
    ws = ws or workspace()
    return [Job(r.id, ws) for r in jobstore.list_jobs(ws, states)]


def get_job(job_id: str, ws: Workspace | None = None) -> Job:
    """A handle on any job; an evaluation's is an `EvalJob` (with `results()`)."""
    job = Job(job_id, ws)
    if job.record.kind == "eval":
        from .evaluation import EvalJob

        return EvalJob(job_id, job.ws)
    return job


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
