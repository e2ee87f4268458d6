"""Submission of a training job: validate, resolve paths, pin the dataset, size for this machine, queue it and
create its MLflow run; and cancellation. Every face submits through here (the SDK's `ft.submit`/`ft.train`, REST,
the CLI, the magics, the form), so a spec is refused or stored the same way whichever face sent it."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from jupyter_ft.core import devices, procs
from jupyter_ft.core.datasets import door
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.store import jsonable
from jupyter_ft.core.jobs.daemon import ensure_scheduler
from jupyter_ft.core.spec import paths
from jupyter_ft.core.spec.train import TECHNIQUE_OPTIONS, SpecError, TrainSpec, parse_spec
from jupyter_ft.core.datasets.formats import data_kind
from jupyter_ft.core.train import compute, data_profile, sizing
from jupyter_ft.core.workspace import Workspace, workspace

def submit(spec: TrainSpec | dict[str, Any] | str | Path, ws: Workspace | None = None, *,
           base_dir: str | Path | None = None, progress: door.ProgressFn | None = None) -> str:
    """Validate, size and queue a job (returns its id); create its MLflow run. Raises `SpecError` (naming fields) before queueing.

    `spec["dataset"]` may be any dataset (see `datasets.door`): it is imported into the catalog and the stored
    spec pins `name@version`. Relative paths are read from `base_dir` (default: this process's working directory;
    the REST face passes the Jupyter server's root) and stored absolute."""
    ws = ws or workspace()
    if _is_eval(spec):  # an evaluation spec (kind: eval): the CLI and POST /jobs take both
        from jupyter_ft.core.evaluate.submit import submit_eval

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
                    device=resolved.device, spec=spec_dict, submitted=jsonable(submitted), max_attempts=resolved.max_attempts)
    ensure_scheduler(ws)
    try:
        from jupyter_ft.core import tracking

        run_id, exp_id, uri = tracking.create_run(ws, job_id, spec_dict)
        jobstore.set_fields(ws, job_id, mlflow_run_id=run_id, mlflow_experiment_id=exp_id, tracking_uri=uri)
    except Exception as exc:  # the forwarder creates it later; the job does not wait for MLflow
        with open(job_dir / "job.log", "a") as fh:
            fh.write(f"[jupyter_ft] MLflow run not created at submission ({type(exc).__name__}: {exc}); will retry\n")
    return job_id


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
        spec = paths.resolve(parsed, base, ws)
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
    profile = peak = None
    if version is not None and (spec.max_length is None or spec.time_budget is not None):
        folder = Path(spec.model) if Path(spec.model).is_dir() else None
        profile = data_profile.profile(version, data_kind(spec.technique), folder)
    if spec.time_budget is not None and spec.max_steps is None:
        peak = _thread_share(ws, spec, device, devices.matmul_peak(device, ws.root / "matmul_peak.json"))
    resolved = sizing.resolve(spec, shape, device, profile=profile, peak=peak,
                              train_rows=version.num_train if version is not None else None)
    resolved = compute.resolve(resolved, shape, device, ws)  # processes, strategy, executor refusals
    if version is None:
        return resolved
    return sizing.size_eval(resolved, version.num_train, version.num_eval if resolved.eval_fraction else 0)


def _thread_share(ws: Workspace, spec: TrainSpec, device: devices.DeviceInfo, peak: dict | None) -> dict | None:
    """The peak a CPU job will see: the measured one (all of torch's threads) scaled to the threads the job will get
    when it starts now (`core.threads`: fewer beside other jobs or a busy machine)."""
    if peak is None or device.kind != "cpu" or not peak.get("threads"):
        return peak
    from jupyter_ft.core import threads

    choice = threads.for_workload(ws, "submission", {"torch_threads": spec.torch_threads}, device.name)
    if choice is None or choice.threads >= peak["threads"]:
        return peak
    return {**peak, "flops": peak["flops"] * choice.threads / peak["threads"], "of_threads": peak["threads"],
            "threads": choice.threads}


def _registered_model(ws: Workspace, spec: TrainSpec) -> TrainSpec:
    """`model: name@3` / `name@champion`: train on that registered version (its full weights), recorded in `auto`."""
    from jupyter_ft.core.registry import versions as registry

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
