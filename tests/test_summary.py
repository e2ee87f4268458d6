"""The one job summary (core/jobs/summary.py) that the REST list, the CLI table, the magics and the jobs panel show."""

from __future__ import annotations

import time

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.summary import job_detail, job_summary, list_summaries, summary_line, table_row


def _job(ws, job_id, **fields):
    jobstore.insert(ws, job_id=job_id, kind="train", technique="sft", name="n", device="cpu",
                    spec={"model": "m", "dataset": "d@1", "lora": {"r": 8}}, submitted={}, max_attempts=3)
    jobstore.set_fields(ws, job_id, **fields)
    return jobstore.get(ws, job_id)


def test_list_summaries_equal_job_summary_without_reading_specs(ws):
    now = time.time()
    a = _job(ws, "a", state="failed", started_at=now - 30, finished_at=now - 5, error="boom", step=3, total_steps=10,
             mlflow_run_id="r1", mlflow_experiment_id="2", tracking_uri="sqlite:///x.db")
    b = _job(ws, "b", state="succeeded", started_at=now - 9, finished_at=now - 1, step=10, total_steps=10)
    _job(ws, "c", state="queued")
    rows = list_summaries(ws)
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert rows[0] == job_summary(a) and rows[1] == job_summary(b)
    assert rows[0]["describe"] == "failed · step 3/10 · took 25s · boom" and "spec" not in rows[0]
    assert [r["id"] for r in list_summaries(ws, ["queued", "succeeded"])] == ["b", "c"]
    assert summary_line(a) == "a (sft, n): failed · step 3/10 · took 25s · boom"
    assert table_row(b).split() == ["b", "sft", "succeeded", "10/10", "0/3", "d@1"]


def test_job_detail_is_the_summary_with_the_specs(ws):
    rec = _job(ws, "d", state="succeeded")
    detail = job_detail(rec, now=100.0)
    assert detail == {**job_summary(rec, now=100.0), "spec": rec.spec, "submitted": rec.submitted}
