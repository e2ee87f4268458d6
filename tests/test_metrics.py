"""Core behind every live view: metric history (cursor, resume), grouping, pace and ETA."""

from __future__ import annotations

import json
import time

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs import progress
from jupyter_ft.core.jobs.metrics import MetricHistory, recent_pace
from jupyter_ft.core.jobs.summary import job_summary


def _job(ws, job_id="j", **fields):
    jobstore.insert(ws, job_id=job_id, kind="train", technique="sft", name=None, device="cpu",
                    spec={"model": "m", "dataset": "d"}, submitted={}, max_attempts=3)
    if fields:
        jobstore.set_fields(ws, job_id, **fields)
    return jobstore.get(ws, job_id)


def _event(ws, job_id, step, ts, **values):
    """A metrics event as a job process writes it, at a chosen time."""
    with ws.write() as c:
        c.execute("INSERT INTO events (job_id, kind, step, payload, ts) VALUES (?, 'metrics', ?, ?, ?)",
                  (job_id, step, json.dumps({"values": values}), ts))


def test_history_reads_incrementally_and_replaces_a_dead_attempts_steps(ws):
    _job(ws)
    h = MetricHistory(ws, "j")
    for s in (10, 20, 30):
        _event(ws, "j", s, 100.0 + s, loss=1.0 / s)
    up = h.poll()
    assert up.changed == {"loss"} and len(up.points) == 3 and not up.rewritten
    assert not h.poll()  # the cursor moved past what was read
    _event(ws, "j", 20, 200.0, loss=5.0)  # resumed from the checkpoint at step 10
    up = h.poll()
    assert up.rewritten == {"loss"} and h.series["loss"].steps == [10, 20]
    assert h.rows() == [{"step": 10, "loss": 0.1}, {"step": 20, "loss": 5.0}]


def test_eta_follows_the_training_pace_not_the_start_up(ws):
    now = time.time()
    # 60 s of imports and loading, then 2 steps per second: step 40 of 100 reached 20 s into training
    rec = _job(ws, state="running", started_at=now - 80, step=40, total_steps=100, progress_at=now)
    for s in range(2, 41, 2):
        _event(ws, "j", s, now - 20 + s / 2, loss=1.0)
    pace = recent_pace(ws, "j")
    assert abs(pace - 0.5) < 1e-6
    h = MetricHistory(ws, "j")
    h.poll()
    assert abs(h.pace() - 0.5) < 1e-6
    assert abs(progress.eta(rec, now, pace) - 30.0) < 1e-6        # 60 steps left at 0.5 s
    assert abs(progress.eta(rec, now) - 120.0) < 1e-6             # without pace: 80 s / 40 steps, start-up included
    assert abs(progress.eta(rec, now + 10, pace) - 20.0) < 1e-6   # counts down between progress writes
    assert progress.describe(rec, now, pace) == "running · step 40/100 · 1m20s elapsed · ETA 30s"
    assert progress.fmt_duration(3725) == "1h02m" and progress.fmt_duration(None) == "-"


def test_job_row_has_what_a_jobs_list_shows(ws):
    now = time.time()
    rec = _job(ws, state="failed", started_at=now - 30, finished_at=now - 5, error="boom", step=3, total_steps=10,
               mlflow_run_id="r1", mlflow_experiment_id="2", tracking_uri="sqlite:///x.db")
    row = job_summary(rec, now)
    assert row["duration_s"] == 25 and row["eta_s"] is None and row["done"]
    assert row["dataset"] == "d" and row["describe"] == "failed · step 3/10 · took 25s · boom"
    assert row["run_url"].endswith("/#/experiments/2/runs/r1")
