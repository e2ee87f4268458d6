"""REST over the dataset catalog through a real jupyter-server (jp_fetch): list, get, page, upload, JSON 4xx."""

from __future__ import annotations

import json
import uuid

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_ft as ft
from jupyter_ft.core.datasets import demo_data


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, dict[str, str]]:
    b = uuid.uuid4().hex
    parts = [f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{b}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={b}"}


async def error_of(jp_fetch, *path, **kw):
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", *path, **kw)
    return ei.value.code, json.loads(ei.value.response.body)


async def test_list_get_versions_and_page(ws, jp_fetch):
    v = ft.datasets.add_demo("human-like", n=100)
    ft.datasets.add(demo_data.sft_rows(20), name="caps", technique="sft")
    r = await jp_fetch("jupyter-ft", "api", "datasets")
    listed = {d["name"]: d for d in json.loads(r.body)["datasets"]}
    assert set(listed) == {"human-like", "caps"} and listed["human-like"]["versions"] == 1
    assert listed["human-like"]["ref"] == v.ref and listed["human-like"]["num_train"] == 90
    r = await jp_fetch("jupyter-ft", "api", "datasets", "human-like")
    assert [x["ref"] for x in json.loads(r.body)["versions"]] == [v.ref]
    for version in (v.version, v.version[:6], "latest"):
        r = await jp_fetch("jupyter-ft", "api", "datasets", "human-like", version)
        assert json.loads(r.body)["version"]["ref"] == v.ref
    r = await jp_fetch("jupyter-ft", "api", "datasets", "human-like", v.version, "rows",
                       params={"offset": "5", "limit": "3", "split": "eval"})
    page = json.loads(r.body)
    assert (page["total"], page["offset"], len(page["rows"]), page["kind"]) == (10, 5, 3, "preference")
    assert page["rows"] == v.rows(5, 3, "eval")


async def test_upload_multipart_and_raw(ws, jp_fetch):
    body, headers = multipart({"name": "caps", "technique": "sft", "eval_fraction": "0.25"}, "caps.jsonl",
                              jsonl(demo_data.sft_rows(8)))
    r = await jp_fetch("jupyter-ft", "api", "datasets", method="POST", body=body, headers=headers)
    assert r.code == 201
    up = json.loads(r.body)
    assert up["created"] and up["version"]["num_eval"] == 2 and up["version"]["source"]["filename"] == "caps.jsonl"
    assert ft.datasets.get("caps").ref == up["version"]["ref"]
    csv = b'prompt,completion\n"two\nlines","a ""quoted"" answer"\n'
    r = await jp_fetch("jupyter-ft", "api", "datasets", method="POST", body=csv,
                       params={"filename": "pairs.csv", "technique": "sft", "eval_fraction": "0"})
    assert r.code == 201 and json.loads(r.body)["version"]["name"] == "pairs"
    assert ft.datasets.rows("pairs") == [{"prompt": "two\nlines", "completion": 'a "quoted" answer'}]
    r = await jp_fetch("jupyter-ft", "api", "datasets", method="POST", body=csv,
                       params={"filename": "pairs.csv", "technique": "sft", "eval_fraction": "0"})
    assert r.code == 200 and not json.loads(r.body)["created"]  # identical content: the same version


async def test_errors_are_json_4xx_naming_row_and_field(ws, jp_fetch):
    rows = demo_data.sft_rows(3) + [{"messages": [{"role": "robot", "content": "beep"}]}]
    code, body = await error_of(jp_fetch, "datasets", method="POST", body=jsonl(rows),
                                params={"filename": "bad.jsonl", "technique": "sft"})
    assert code == 400 and body["invalid_rows"] == 1
    (err,) = body["errors"]
    assert err["row"] == 4 and err["field"] == "messages" and "role must be one of" in err["message"]
    code, body = await error_of(jp_fetch, "datasets", method="POST", body=b"", params={"filename": "empty.jsonl"})
    assert code == 400 and "empty.jsonl: the file is empty" in body["message"] and body["errors"][0]["field"] == "source"
    code, body = await error_of(jp_fetch, "datasets", method="POST", body=jsonl(demo_data.sft_rows(2)),
                                params={"filename": "x.jsonl", "mapping": '{"prompt": "nope"}', "technique": "sft"})
    assert code == 400 and body["errors"][0]["field"] == "mapping.prompt"
    for params, field in (({"filename": "x.exe"}, "filename"), ({}, "filename"),
                          ({"filename": "x.jsonl", "eval_fraction": "lots"}, "eval_fraction"),
                          ({"filename": "x.jsonl", "mapping": "[1]"}, "mapping"),
                          ({"filename": "x.jsonl", "name": "bad name"}, "name")):
        code, body = await error_of(jp_fetch, "datasets", method="POST", body=b'{"text": "x"}\n', params=params)
        assert code == 400 and body["errors"][0]["field"] == field, body
    code, body = await error_of(jp_fetch, "datasets", "nope")
    assert code == 404 and "no dataset named 'nope'" in body["message"]
    ft.datasets.add(demo_data.sft_rows(5), name="caps", technique="sft")
    code, body = await error_of(jp_fetch, "datasets", "caps", "abcdef")
    assert code == 404 and "has no version 'abcdef'" in body["message"]
    for params, field in (({"limit": "-1"}, "limit"), ({"split": "test"}, "split"), ({"limit": "100000"}, "limit")):
        code, body = await error_of(jp_fetch, "datasets", "caps", "latest", "rows", params=params)
        assert code == 400 and body["errors"][0]["field"] == field
    assert [d.name for d in ft.datasets.list()] == ["caps"]  # none of the failed uploads left anything
