"""MLflow: the run of each job, created at submission, and the calls the forwarder makes.

Params are the resolved spec (dotted keys); tags carry the job id, technique and code version; metrics, the
dataset input, artifacts and the final status arrive through the job's event log (see `forwarder`).
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

from jupyter_ft.core.spec.train import flatten
from jupyter_ft.core.workspace import Workspace

TAG_JOB = "jupyter_ft.job_id"
TAG_TECHNIQUE = "jupyter_ft.technique"
TAG_VERSION = "jupyter_ft.version"
TAG_COMMIT = "jupyter_ft.git_commit"


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, str]:
    """Package version, plus the git commit when running from a checkout (editable install)."""
    from jupyter_ft.core import __version__

    out = {TAG_VERSION: __version__}
    try:
        repo = Path(__file__).resolve().parents[2]
        if (repo / ".git").exists():
            sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
            if sha.returncode == 0:
                out[TAG_COMMIT] = sha.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def tracking_uri_for(ws: Workspace, spec: dict[str, Any]) -> str:
    return (spec.get("tracking") or {}).get("tracking_uri") or ws.tracking_uri


@functools.lru_cache(maxsize=8)
def client(uri: str):
    """An MlflowClient whose store is ready. MLflow creates a SQLite store's tables on first use and two
    processes doing that at once collide ("table experiments already exists"), so first use takes a file lock."""
    from mlflow.tracking import MlflowClient

    if not uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri=uri)
    import fcntl

    db = Path(uri[len("sqlite:///"):])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".init-lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        c = MlflowClient(tracking_uri=uri)  # the constructor builds the store (and its tables)
        c.search_experiments(max_results=1)
    return c


def _experiment_id(ws: Workspace, uri: str, name: str) -> str:
    c = client(uri)
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = ws.artifact_root.as_uri() if uri == ws.tracking_uri and uri.startswith("sqlite:") else None
    try:
        return c.create_experiment(name, artifact_location=location)
    except Exception:
        exp = c.get_experiment_by_name(name)  # created by another process meanwhile
        if exp is None:
            raise
        return exp.experiment_id


def create_run(ws: Workspace, job_id: str, spec: dict[str, Any]) -> tuple[str, str, str]:
    """Create the job's MLflow run with params and tags; returns (run_id, experiment_id, tracking_uri)."""
    from mlflow.entities import Param

    uri = tracking_uri_for(ws, spec)
    tracking = spec.get("tracking") or {}
    exp_id = _experiment_id(ws, uri, tracking.get("experiment") or "jupyter_ft")
    from jupyter_ft.core.train.model_source import lineage_params

    source = lineage_params(spec.get("auto"))  # a model converted from a GGUF: the file and its sha256
    tags = {TAG_JOB: job_id, TAG_TECHNIQUE: spec.get("technique") or spec.get("kind", "train"), **code_version(),
            **{f"jupyter_ft.source.{k}": v[:5000] for k, v in source.items()}}
    c = client(uri)
    run = c.create_run(exp_id, run_name=tracking.get("run_name") or spec.get("name") or job_id, tags=tags)
    # Values still unknown (None) are left out: the job logs them once resolved, and MLflow params never change.
    params = [Param(k, str(v)[:6000]) for k, v in flatten(spec).items()
              if v is not None and k != "auto" and not k.startswith("auto.")]
    params += [Param(k, v[:6000]) for k, v in source.items()]
    for i in range(0, len(params), 100):
        c.log_batch(run.info.run_id, params=params[i : i + 100])
    c.log_dict(run.info.run_id, spec, "spec.json")
    c.set_tag(run.info.run_id, "jupyter_ft.auto", "; ".join(f"{k}={v}" for k, v in (spec.get("auto") or {}).items())[:5000])
    return run.info.run_id, exp_id, uri


def run_url(uri: str, experiment_id: str, run_id: str, ui: str = "http://127.0.0.1:5000") -> str:
    """Where to open the run in the MLflow UI (`mlflow ui --backend-store-uri <uri>`)."""
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}"


UI_ENV = "JUPYTER_FT_MLFLOW_UI"


def ui_base(uri: str) -> str:
    """The MLflow UI serving `uri`: an http(s) tracking server is its own UI; for a local store, the address in
    `JUPYTER_FT_MLFLOW_UI`, else where `mlflow ui --backend-store-uri <uri>` listens by default."""
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return os.environ.get(UI_ENV, "http://127.0.0.1:5000").rstrip("/")


def job_run_url(rec: Any) -> str | None:
    """The MLflow UI address of a job's run (a `JobRecord`), or None before the run exists."""
    if not (rec.mlflow_run_id and rec.mlflow_experiment_id and rec.tracking_uri):
        return None
    return run_url(rec.tracking_uri, rec.mlflow_experiment_id, rec.mlflow_run_id, ui_base(rec.tracking_uri))


def apply_event(uri: str, run_id: str, kind: str, step: int | None, payload: dict[str, Any], ts: float) -> None:
    """Send one job event to MLflow."""
    from mlflow.entities import Metric, RunTag

    c = client(uri)
    if kind == "metrics":
        ms = [Metric(k, float(v), int(ts * 1000), int(step or 0)) for k, v in payload["values"].items()]
        for i in range(0, len(ms), 1000):
            c.log_batch(run_id, metrics=ms[i : i + 1000])
    elif kind == "artifact":
        path = Path(payload["path"])
        if path.is_dir():
            c.log_artifacts(run_id, str(path), payload.get("artifact_path"))
        elif path.is_file():
            c.log_artifact(run_id, str(path), payload.get("artifact_path"))
    elif kind == "input":
        from mlflow.entities import Dataset, DatasetInput, InputTag

        ds = Dataset(
            name=payload["name"], digest=payload["digest"], source_type=payload.get("source_type", "local"),
            source=payload["source"], schema=payload.get("schema"), profile=payload.get("profile"),
        )
        c.log_inputs(run_id, datasets=[DatasetInput(ds, tags=[InputTag("mlflow.data.context", payload.get("context", "train"))])])
    elif kind == "table":  # a per-sample table (evaluations): MLflow's table artifact, shown in its UI
        import json

        data = json.loads(Path(payload["path"]).read_text())  # {column: [values]} written by the job
        c.log_table(run_id, data=data, artifact_file=payload["artifact_file"])
    elif kind == "tag":
        c.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in payload.items()])
    elif kind == "warning":  # also on the job row (jobstore.append_event); in MLflow a tag per check
        c.set_tag(run_id, f"jupyter_ft.warning.{payload.get('code', 'other')}", str(payload.get("message", ""))[:5000])
    elif kind == "param":
        from mlflow.entities import Param

        c.log_batch(run_id, params=[Param(k, str(v)) for k, v in payload.items()])
    elif kind == "end":
        status = {"succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}[payload["state"]]
        if payload.get("error"):
            c.set_tag(run_id, "jupyter_ft.error", str(payload["error"])[:5000])
        c.set_terminated(run_id, status, end_time=int(ts * 1000))
    else:
        raise ValueError(f"unknown event kind {kind!r}")
