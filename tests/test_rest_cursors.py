"""Live updates by cursor (server/handlers.py over jobstore's change counter): `GET jobs?since=` sends only the
jobs written since, `wait=` holds the request until a change, `metrics?since=` and `logs?offset=` send only what is
new. Through a real server; the job rows are written the way the scheduler and job processes write them."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.jobs import store as jobstore


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


def queued(ws, job_id: str) -> str:
    jobstore.insert(ws, job_id=job_id, kind="train", technique="sft", name=None, device="cpu",
                    spec={"model": "m", "dataset": "d"}, submitted={}, max_attempts=3)
    return job_id


async def get(jp_fetch, *path, **params):
    r = await jp_fetch("jupyter-ft", "api", *path, params={k: str(v) for k, v in params.items()})
    return json.loads(r.body)


def test_every_writer_of_a_job_row_moves_the_cursor(ws):
    """The counter is kept by triggers, so the scheduler's claim, a requeue, a cancel and the end all count."""
    start = jobstore.cursor(ws)
    job = queued(ws, "sft-a")
    other = queued(ws, "sft-b")
    seen = [jobstore.cursor(ws)]
    assert seen[0] == start + 2
    steps = [lambda: jobstore.claim_next(ws, set()), lambda: jobstore.set_fields(ws, job, step=3, total_steps=10),
             lambda: jobstore.requeue(ws, job, "process died"), lambda: jobstore.claim_next(ws, set()),
             lambda: api.cancel(job, ws), lambda: jobstore.finish(ws, job, "cancelled", "by test")]
    for step in steps:
        step()
        now, changed, reset = jobstore.changes(ws, seen[-1])
        assert now > seen[-1] and not reset
        assert job in [r.id for r in changed] and other not in [r.id for r in changed], step
        seen.append(now)
    assert jobstore.changes(ws, seen[-1])[1] == []


async def test_jobs_since_sends_only_changed_jobs(ws, jp_fetch):
    for i in range(5):
        queued(ws, f"sft-{i}")
    full = await get(jp_fetch, "jobs")
    assert full["full"] is True and len(full["jobs"]) == 5
    cursor = full["cursor"]
    idle = await get(jp_fetch, "jobs", since=cursor)
    assert idle == {"jobs": [], "cursor": cursor, "full": False}
    jobstore.set_fields(ws, "sft-3", step=7, total_steps=20)
    delta = await get(jp_fetch, "jobs", since=cursor)
    assert [j["id"] for j in delta["jobs"]] == ["sft-3"] and delta["jobs"][0]["step"] == 7
    assert delta["cursor"] > cursor and delta["full"] is False
    assert (await get(jp_fetch, "jobs", since=delta["cursor"]))["jobs"] == []
    # a state filter applies to the changes too
    jobstore.finish(ws, "sft-1", "failed", "boom")
    assert (await get(jp_fetch, "jobs", since=delta["cursor"], state="running"))["jobs"] == []
    assert [j["id"] for j in (await get(jp_fetch, "jobs", since=delta["cursor"], state="failed"))["jobs"]] == ["sft-1"]
    # a cursor from elsewhere (ahead of this workspace) gets everything, flagged as a full list
    reset = await get(jp_fetch, "jobs", since=10**9)
    assert reset["full"] is True and len(reset["jobs"]) == 5


async def test_wait_holds_the_request_until_a_job_changes(ws, jp_fetch):
    queued(ws, "sft-x")
    cursor = (await get(jp_fetch, "jobs"))["cursor"]

    async def later():
        await asyncio.sleep(0.3)
        jobstore.set_fields(ws, "sft-x", step=1)

    t0 = time.monotonic()
    answer, _ = await asyncio.gather(get(jp_fetch, "jobs", since=cursor, wait=20), later())
    took = time.monotonic() - t0
    assert [j["id"] for j in answer["jobs"]] == ["sft-x"]
    assert 0.25 < took < 10, took  # answered on the change, not at the end of the wait
    t0 = time.monotonic()
    quiet = await get(jp_fetch, "jobs", since=answer["cursor"], wait=0.3)
    assert quiet["jobs"] == [] and time.monotonic() - t0 >= 0.3


async def test_metrics_since_sends_new_points_and_waits_for_them(ws, jp_fetch):
    job = queued(ws, "sft-m")
    for step in (1, 2):
        jobstore.append_event(ws, job, "metrics", {"values": {"loss": 3.0 - step}}, step=step)
    first = await get(jp_fetch, "jobs", job, "metrics")
    assert [r["step"] for r in first["metrics"]] == [1, 2] and first["cursor"] == first["last_seq"]
    none = await get(jp_fetch, "jobs", job, "metrics", since=first["cursor"])
    assert none["metrics"] == [] and none["from_step"] is None and none["cursor"] == first["cursor"]

    async def log_step():
        await asyncio.sleep(0.3)
        jobstore.append_event(ws, job, "metrics", {"values": {"loss": 0.5}}, step=3)

    t0 = time.monotonic()
    new, _ = await asyncio.gather(get(jp_fetch, "jobs", job, "metrics", since=first["cursor"], wait=20), log_step())
    assert time.monotonic() - t0 < 10
    assert new["metrics"] == [{"step": 3, "loss": 0.5}] and new["from_step"] == 3 and new["cursor"] > first["cursor"]
    # the older name of the cursor still works
    assert (await get(jp_fetch, "jobs", job, "metrics", after=first["cursor"]))["metrics"] == new["metrics"]
    # a finished job is answered at once, whatever the wait
    jobstore.finish(ws, job, "succeeded")
    t0 = time.monotonic()
    await get(jp_fetch, "jobs", job, "metrics", since=new["cursor"], wait=20)
    assert time.monotonic() - t0 < 10


async def test_logs_by_offset_append_and_never_split_a_character(ws, jp_fetch):
    job = queued(ws, "sft-l")
    log = ws.job_dir(job) / "job.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes("step 1\n".encode())
    a = await get(jp_fetch, "jobs", job, "logs", offset=0)
    assert a["logs"] == "step 1\n" and a["next_offset"] == a["size"] == 7 and a["reset"] is False
    with log.open("ab") as fh:
        fh.write("loss é".encode()[:-1])  # the job is half-way through writing "é"
    b = await get(jp_fetch, "jobs", job, "logs", offset=a["next_offset"])
    assert b["logs"] == "loss " and b["next_offset"] == 12
    with log.open("ab") as fh:
        fh.write("é".encode()[-1:] + b"\n")
    c = await get(jp_fetch, "jobs", job, "logs", offset=b["next_offset"])
    assert c["logs"] == "é\n" and c["next_offset"] == log.stat().st_size
    # a log that was replaced (shorter than the client's offset) starts again from 0
    log.write_text("new\n")
    d = await get(jp_fetch, "jobs", job, "logs", offset=c["next_offset"])
    assert d["reset"] is True and d["logs"] == "new\n" and d["offset"] == 0
    # the tail form is unchanged
    assert (await get(jp_fetch, "jobs", job, "logs", tail=1))["logs"] == "new"
    for bad in ({"offset": "-1"}, {"wait": "31"}, {"offset": "x"}):
        with pytest.raises(HTTPClientError) as ei:
            await jp_fetch("jupyter-ft", "api", "jobs", job, "logs", params=bad)
        assert ei.value.code == 400 and json.loads(ei.value.response.body)["errors"][0]["field"] == next(iter(bad))


async def test_a_write_from_another_process_wakes_the_long_poll(ws, jp_fetch):
    """Jobs change from anywhere (the scheduler, a job process, a kernel, the CLI): a row written by another process
    moves the same counter the server's held request is watching."""
    import sys

    queued(ws, "sft-cli")
    cursor = (await get(jp_fetch, "jobs"))["cursor"]
    code = ("import sys; from jupyter_ft.core.workspace import Workspace; from jupyter_ft.core.jobs import store as jobstore; "
            "jobstore.set_fields(Workspace(sys.argv[1]), 'sft-cli', step=5, total_steps=9)")

    async def other_process():
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, str(ws.root))
        assert await proc.wait() == 0

    answer, _ = await asyncio.gather(get(jp_fetch, "jobs", since=cursor, wait=30), other_process())
    assert [(j["id"], j["step"], j["total_steps"]) for j in answer["jobs"]] == [("sft-cli", 5, 9)]
