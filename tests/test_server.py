"""The jupyter-server extension through a real server (pytest-jupyter's jp_fetch)."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_ft as ft


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


async def test_jobs_route_lists_jobs(ws, jp_fetch, broken_model, sft_file):
    job = ft.submit({"model": str(broken_model), "dataset": str(sft_file), "name": "listed"}, ws)
    r = await jp_fetch("jupyter-ft", "api", "jobs")
    assert r.code == 200
    (row,) = json.loads(r.body)["jobs"]
    assert row["id"] == job.id and row["name"] == "listed" and row["state"] in ("queued", "running", "failed")
    r = await jp_fetch("jupyter-ft", "api", "jobs", job.id)
    detail = json.loads(r.body)["job"]
    assert detail["spec"]["model"] == str(broken_model) and detail["submitted"]["name"] == "listed"


async def test_unauthenticated_requests_are_refused(ws, jp_fetch):
    for method, body in (("GET", None), ("POST", "{}")):
        with pytest.raises(HTTPClientError) as ei:
            await jp_fetch("jupyter-ft", "api", "jobs", method=method, body=body, headers={"Authorization": ""})
        assert ei.value.code in (401, 403)


async def test_submit_validation_errors_name_fields(ws, jp_fetch):
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", "jobs", method="POST",
                       body=json.dumps({"model": "m", "dataset": "d", "learning_rate": -1, "technique": "nope"}))
    assert ei.value.code == 400
    body = json.loads(ei.value.response.body)
    assert {e["field"] for e in body["errors"]} == {"learning_rate", "technique"}
    assert ft.jobs() == []
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", "jobs", method="POST", body="not json")
    assert ei.value.code == 400 and "not JSON" in json.loads(ei.value.response.body)["message"]


async def test_submit_cancel_logs_and_unknown_job(ws, jp_fetch, broken_model, sft_file):
    r = await jp_fetch("jupyter-ft", "api", "jobs", method="POST",
                       body=json.dumps({"model": str(broken_model), "dataset": str(sft_file)}))
    assert r.code == 201
    job_id = json.loads(r.body)["job"]["id"]
    r = await jp_fetch("jupyter-ft", "api", "jobs", job_id, method="DELETE")
    assert json.loads(r.body)["state"] in ("cancelled", "cancelling", "failed")
    r = await jp_fetch("jupyter-ft", "api", "jobs", job_id, "logs", params={"tail": "5"})
    assert "logs" in json.loads(r.body)
    r = await jp_fetch("jupyter-ft", "api", "jobs", job_id, "metrics")
    assert json.loads(r.body)["metrics"] == []
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", "jobs", "no-such-job")
    assert ei.value.code == 404 and "no-such-job" in json.loads(ei.value.response.body)["message"]
