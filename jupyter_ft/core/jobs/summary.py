"""A job's summary: the one dict and the one line every face shows for a job (REST list, sidebar, CLI table,
magics, the notebook jobs panel). Detail (the spec) stays on the single-job views; lists carry only this, so a
list of a thousand jobs stays small whatever their specs hold."""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Any, Iterable

from jupyter_ft.core.jobs.store import JobRecord, parse_warnings
from jupyter_ft.core.workspace import Workspace
from jupyter_ft.core.jobs.progress import describe, elapsed, eta
from jupyter_ft.core.tracking import job_run_url


def job_summary(rec: JobRecord, now: float | None = None, pace: float | None = None) -> dict[str, Any]:
    """JSON-ready fields of one job for a list: identity, state, progress, timing, what it trains, where it is
    tracked, and `describe`, the one-line text (see `summary_line`)."""
    now = now or time.time()
    return {
        "id": rec.id, "kind": rec.kind, "technique": rec.technique, "name": rec.name, "state": rec.state,
        "done": rec.done, "device": rec.device, "created_at": rec.created_at, "started_at": rec.started_at,
        "finished_at": rec.finished_at, "attempt": rec.attempt, "max_attempts": rec.max_attempts, "error": rec.error,
        "step": rec.step, "total_steps": rec.total_steps, "progress": rec.progress, "fraction": rec.progress,
        "duration_s": elapsed(rec, now) if rec.started_at else None, "eta_s": eta(rec, now, pace),
        "model": rec.spec.get("model"), "dataset": rec.spec.get("dataset"),
        "mlflow_run_id": rec.mlflow_run_id, "mlflow_experiment_id": rec.mlflow_experiment_id,
        "run_url": job_run_url(rec), "describe": describe(rec, now, pace),
        "warnings": [{k: w.get(k) for k in ("code", "title", "message", "step")} for w in rec.warnings],
    }


def job_detail(rec: JobRecord, now: float | None = None, pace: float | None = None) -> dict[str, Any]:
    """One job on its own view: its `job_summary` with the stored spec and the spec as submitted."""
    return {**job_summary(rec, now, pace), "spec": rec.spec, "submitted": rec.submitted}


_COLUMNS = [f.name for f in fields(JobRecord) if f.name not in ("spec", "submitted")]


def list_summaries(ws: Workspace, states: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """`job_summary` of every job (oldest first), reading only what a summary shows: the two spec fields it
    needs are picked out by SQLite, so the stored specs are never parsed (a list of 1,000 jobs stays fast)."""
    cols = ", ".join(_COLUMNS)
    q = (f"SELECT {cols}, json_extract(spec, '$.model') AS model, json_extract(spec, '$.dataset') AS dataset"
         " FROM jobs")
    args: list[str] = list(states or [])
    if args:
        q += f" WHERE state IN ({','.join('?' * len(args))})"
    cur = ws.conn.cursor()
    cur.row_factory = None  # plain tuples: sqlite3.Row -> dict costs more than the rest of a summary
    names = _COLUMNS + ["model", "dataset"]
    now = time.time()
    out = []
    for row in cur.execute(q + " ORDER BY created_at, id", args).fetchall():
        d = dict(zip(names, row))
        spec = {"model": d.pop("model"), "dataset": d.pop("dataset")}
        d["cancel_requested"] = bool(d["cancel_requested"])
        d["warnings"] = parse_warnings(d["warnings"])
        out.append(job_summary(JobRecord(spec=spec, submitted={}, **d), now))
    return out


def summary_line(rec: JobRecord, now: float | None = None, pace: float | None = None) -> str:
    """'sft-1201-… (sft, my-run): running · step 40/100 · 12s elapsed · ETA 18s' — the line the magics, the CLI's
    status and the chart's caption print."""
    label = f"{rec.technique}, {rec.name}" if rec.name else rec.technique
    return f"{rec.id} ({label}): {describe(rec, now, pace)}"


TABLE_HEADER = f"{'ID':<26} {'TECH':<6} {'STATE':<10} {'STEP':>9}  TRY  DATASET"


def table_row(rec: JobRecord) -> str:
    """One row of the CLI's `jobs` table, aligned under `TABLE_HEADER`."""
    prog = f"{rec.step}/{rec.total_steps}" if rec.total_steps else "-"
    return (f"{rec.id:<26} {rec.technique:<6} {rec.state:<10} {prog:>9}  {rec.attempt}/{rec.max_attempts}  "
            f"{rec.spec.get('dataset', '')}")
