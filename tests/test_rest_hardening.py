"""REST never answers 500 (or a traceback, or a server path) to client input, through a
real jupyter-server (pytest-jupyter's jp_fetch) on loopback."""

from __future__ import annotations

import json
import uuid

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.datasets import demo_data

LIMIT = 64 * 1024


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False},
            "JupyterFTApp": {"max_upload_bytes": LIMIT}}


def queued_job(ws, job_id="sft-1", name=None) -> str:
    """A job row as submission leaves it (no scheduler, no job process: these tests are about the REST face)."""
    jobstore.insert(ws, job_id=job_id, kind="train", technique="sft", name=name, device="cpu",
                    spec={"model": "m", "dataset": "d", "name": name}, submitted={"name": name}, max_attempts=3)
    return job_id


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, dict[str, str]]:
    b = uuid.uuid4().hex
    parts = [f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    for i, (filename, content) in enumerate(files):
        parts.append(f'--{b}\r\nContent-Disposition: form-data; name="file{i or ""}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{b}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={b}"}


async def error_of(ws, jp_fetch, *path, **kw):
    """(status, JSON body) of a request that must fail with a client error that leaks nothing."""
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", *path, **kw)
    text = ei.value.response.body.decode()
    assert 400 <= ei.value.code < 500, text
    assert "Traceback" not in text and str(ws.root) not in text and str(ws.root.resolve()) not in text
    return ei.value.code, json.loads(text)


def field_of(body) -> str:
    return body["errors"][0]["field"]


async def test_bad_query_parameters_are_400_naming_the_parameter(ws, jp_fetch):
    job_id = queued_job(ws)
    ft.datasets.add(demo_data.sft_rows(5), name="caps", technique="sft")
    cases = [
        (("jobs", job_id, "metrics"), {"after": "99999999999999999999999"}, "after"),
        (("jobs", job_id, "metrics"), {"after": "²"}, "after"),
        (("jobs", job_id, "metrics"), {"after": "-3"}, "after"),
        (("jobs", job_id, "logs"), {"tail": "-1"}, "tail"),
        (("jobs", job_id, "logs"), {"tail": "0"}, "tail"),
        (("jobs",), {"state": "bogus"}, "state"),
        (("datasets", "caps", "latest", "rows"), {"offset": "²"}, "offset"),
        (("datasets", "caps", "latest", "rows"), {"offset": "99999999999999999999999"}, "offset"),
    ]
    for path, params, field in cases:
        code, body = await error_of(ws, jp_fetch, *path, params=params)
        assert code == 400 and field_of(body) == field and body["message"].startswith(f"{field}:"), (params, body)
    r = await jp_fetch("jupyter-ft", "api", "jobs", params={"state": "queued,running,failed"})
    assert r.code == 200


async def test_bodies_that_are_not_a_spec_object_are_400(ws, jp_fetch):
    for raw in ("[" * 100_000, "[" * 40 + "]" * 40, json.dumps([1, 2]), "{", '"text"'):
        code, body = await error_of(ws, jp_fetch, "jobs", method="POST", body=raw)
        assert code == 400 and field_of(body) == "body", body
    code, body = await error_of(ws, jp_fetch, "jobs", method="POST",
                                body='{"model": "m", "dataset": "d.jsonl", "weight_decay": 1e309}')
    assert code == 400 and field_of(body) == "weight_decay"
    code, body = await error_of(ws, jp_fetch, "jobs", method="POST", body=json.dumps({"model": "m", "name": "x" * (2 << 20)}))
    assert code == 413 and field_of(body) == "body"
    assert ft.jobs() == []


async def test_unknown_routes_are_json_404(ws, jp_fetch):
    for path, method in ((("nope",), "GET"), (("jobs", "a", "b", "c"), "GET"), (("nope",), "POST"),
                         (("datasets", "x", "y", "z", "w"), "DELETE")):
        code, body = await error_of(ws, jp_fetch, *path, method=method,
                                    body="{}" if method == "POST" else None)
        assert code == 404 and field_of(body) == "route" and "no route" in body["message"]
    code, body = await error_of(ws, jp_fetch, "jobs", "no-such-job", "logs")
    assert code == 404 and body["message"] == "no job with id 'no-such-job'"
    with pytest.raises(HTTPClientError) as ei:  # still behind authentication
        await jp_fetch("jupyter-ft", "api", "nope", headers={"Authorization": ""})
    assert ei.value.code in (401, 403)


async def test_upload_mistakes_name_their_field(ws, jp_fetch):
    rows = jsonl(demo_data.sft_rows(4))
    code, body = await error_of(ws, jp_fetch, "datasets", method="POST", body=rows,
                                params={"filename": "x" * 300 + ".jsonl", "technique": "sft"})
    assert code == 400 and field_of(body) == "filename" and "at most 200 characters" in body["message"]
    for params in ({"seed": "-1"}, {"seed": str(2**40)}, {"eval_fraction": "nan"}, {"eval_fraction": "inf"},
                   {"eval_fraction": "1"}, {"max_chars": "-5"}, {"drop_invalid": "maybe"}):
        code, body = await error_of(ws, jp_fetch, "datasets", method="POST", body=rows,
                                    params={"filename": "caps.jsonl", "technique": "sft", **params})
        assert code == 400 and field_of(body) == next(iter(params)), (params, body)
    body, headers = multipart({"technique": "sft", "seed": "-1"}, [("caps.jsonl", rows)])
    code, err = await error_of(ws, jp_fetch, "datasets", method="POST", body=body, headers=headers)
    assert code == 400 and field_of(err) == "seed"
    body, headers = multipart({"technique": "sft"}, [("a.jsonl", rows), ("b.jsonl", rows)])
    code, err = await error_of(ws, jp_fetch, "datasets", method="POST", body=body, headers=headers)
    assert code == 400 and "one file per upload" in err["message"] and "b.jsonl" in err["message"]
    body, headers = multipart({"technique": "sft", "seed": "7"}, [])
    code, err = await error_of(ws, jp_fetch, "datasets", method="POST", body=body, headers=headers)
    assert code == 400 and field_of(err) == "file"
    code, err = await error_of(ws, jp_fetch, "datasets", method="POST", body=b"--x\r\ngarbage",
                               headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert code == 400
    assert ft.datasets.list() == [] and not any((ws.root / "datasets" / ".uploads").glob("*/*"))


async def test_uploads_over_the_limit_are_413_naming_it(ws, jp_fetch):
    big = jsonl(demo_data.sft_rows(2000))
    assert len(big) > LIMIT
    code, body = await error_of(ws, jp_fetch, "datasets", method="POST", body=big,
                                params={"filename": "big.jsonl", "technique": "sft"})
    assert code == 413 and field_of(body) == "file" and "64 KiB" in body["message"] and body["limit"] == LIMIT

    async def chunks(write):  # no Content-Length: the limit is found while streaming
        for i in range(0, len(big), 8192):
            await write(big[i:i + 8192])

    code, body = await error_of(ws, jp_fetch, "datasets", method="POST", body_producer=chunks,
                                params={"filename": "big.jsonl", "technique": "sft"})
    assert code == 413 and body["limit"] == LIMIT
    assert ft.datasets.list() == [] and not any((ws.root / "datasets" / ".uploads").glob("*/*"))
    small = jsonl(demo_data.sft_rows(20))
    r = await jp_fetch("jupyter-ft", "api", "datasets", method="POST", body_producer=_producer(small),
                       params={"filename": "small.jsonl", "technique": "sft", "seed": "3"})
    assert r.code == 201 and json.loads(r.body)["version"]["num_train"] + json.loads(r.body)["version"]["num_eval"] == 20


def _producer(data: bytes):
    async def produce(write):
        for i in range(0, len(data), 1000):
            await write(data[i:i + 1000])
    return produce


async def test_metrics_of_a_resumed_job_equal_job_metrics(ws, jp_fetch):
    job = ft.get_job(queued_job(ws), ws)
    for step in range(1, 9):  # attempt 1 logged steps 1..8, then died; attempt 2 resumed from step 4
        jobstore.append_event(ws, job.id, "metrics", {"values": {"loss": 10.0 - step}}, step=step)
    r = await jp_fetch("jupyter-ft", "api", "jobs", job.id, "metrics")
    first = json.loads(r.body)
    for step in range(5, 11):
        jobstore.append_event(ws, job.id, "metrics", {"values": {"loss": 100.0 + step, "grad_norm": 1.0}}, step=step)
    r = await jp_fetch("jupyter-ft", "api", "jobs", job.id, "metrics")
    whole = json.loads(r.body)
    assert whole["metrics"] == job.metrics() and [m["step"] for m in whole["metrics"]] == list(range(1, 11))
    assert whole["metrics"][5] == {"step": 6, "loss": 106.0, "grad_norm": 1.0}
    r = await jp_fetch("jupyter-ft", "api", "jobs", job.id, "metrics", params={"after": str(first["last_seq"])})
    since = json.loads(r.body)
    assert since["from_step"] == 5 and since["metrics"] == job.metrics()[4:]
    # what a client holding `first` ends with after applying `since`: the same rows as Job.metrics()
    merged = [m for m in first["metrics"] if m["step"] < since["from_step"]] + since["metrics"]
    assert merged == job.metrics()
    r = await jp_fetch("jupyter-ft", "api", "jobs", job.id, "metrics", params={"after": str(since["last_seq"])})
    assert json.loads(r.body)["metrics"] == []


async def test_job_list_carries_summaries_not_specs(ws, jp_fetch):
    job_id = queued_job(ws, name="listed")
    r = await jp_fetch("jupyter-ft", "api", "jobs")
    (row,) = json.loads(r.body)["jobs"]
    assert "spec" not in row and "submitted" not in row
    sidebar_fields = {"id", "kind", "technique", "name", "state", "device", "created_at", "started_at", "finished_at",
                      "attempt", "max_attempts", "error", "step", "total_steps", "progress", "model", "dataset",
                      "mlflow_run_id", "mlflow_experiment_id"}  # labextension/src/api.ts IJobSummary
    assert sidebar_fields <= set(row) and row["describe"].startswith(row["state"])
    r = await jp_fetch("jupyter-ft", "api", "jobs", job_id)
    assert json.loads(r.body)["job"]["spec"]["name"] == "listed"


def test_replies_never_hold_nan_and_server_faults_leak_nothing(ws):
    from jupyter_ft.server import errors
    from jupyter_ft.server.handlers import depth, finite

    assert finite({"a": [1.0, float("nan"), {"b": float("-inf")}], "c": "x"}) == {"a": [1.0, None, {"b": None}], "c": "x"}
    assert depth([[[]]]) == 3 and depth({"a": [1, {"b": 2}]}) == 3 and depth(5) == 0
    status, body = errors.reply_for(RuntimeError(f"boom in {ws.root}/jobs/x"), 500)
    assert status == 500 and str(ws.root) not in json.dumps(body) and "Traceback" not in json.dumps(body)
    assert errors.scrub({"m": [f"{ws.root}/datasets/x.csv: bad"]}, errors.server_paths(ws.root)) == \
        {"m": ["<workspace>/datasets/x.csv: bad"]}
