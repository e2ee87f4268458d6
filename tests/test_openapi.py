"""The OpenAPI document against the real server: every route of the live tornado route table is in it, every
route refuses a request without credentials, and every example in it answers as documented (status, and the body
against the documented schema). Walks the route table itself, never a hand-kept list."""

from __future__ import annotations

import json
import re

import jsonschema
import openapi_spec_validator
import pytest
from jupyter_server.base.handlers import APIHandler
from tornado.httpclient import HTTPClientError

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.datasets import demo_data
from jupyter_ft.server import openapi


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


def queued(ws, job_id: str, kind: str = "train", spec: dict | None = None) -> str:
    """A job row as submission leaves it (no scheduler: these tests are about the REST face)."""
    spec = spec or {"model": "m", "dataset": "d"}
    jobstore.insert(ws, job_id=job_id, kind=kind, technique="sft" if kind == "train" else "eval", name=None,
                    device="cpu", spec=spec, submitted=spec, max_attempts=3)
    return job_id


def seed(ws, tmp_path, model) -> dict[str, str]:
    """What the document's `<name>` example values stand for. A new route's fixtures go here."""
    job = queued(ws, "sft-example")
    ws.job_dir(job).mkdir(parents=True, exist_ok=True)
    (ws.job_dir(job) / "job.log").write_text("step 1\nstep 2 é\n")
    for step, loss in ((1, 2.0), (2, 1.5)):
        jobstore.append_event(ws, job, "metrics", {"values": {"loss": loss}}, step=step)
    ev = queued(ws, "eval-example", kind="eval", spec={"models": ["base"], "dataset": "d", "evaluators": []})
    ft.datasets.add(demo_data.sft_rows(6), name="caps", technique="sft")
    return {"job": job, "eval": ev, "cancel_job": queued(ws, "sft-to-cancel"), "dataset": "caps",
            "model": str(model), "cursor": str(jobstore.cursor(ws))}


async def get_document(jp_fetch) -> dict:
    r = await jp_fetch("jupyter-ft", "api", "openapi.json")
    assert r.code == 200 and r.headers["Content-Type"].startswith("application/json")
    return json.loads(r.body)


def routes(jp_serverapp) -> list[openapi.Route]:
    found = openapi.extension_routes(jp_serverapp.web_app, jp_serverapp.base_url)
    assert len(found) > 10, "the route table walk found almost nothing: the walk itself is broken"
    return found


async def test_every_route_in_the_route_table_is_documented(ws, jp_fetch, jp_serverapp):
    document = await get_document(jp_fetch)
    # a valid OpenAPI 3.1 document (the official schema of the format), with valid JSON schemas in it
    openapi_spec_validator.validate(document, cls=openapi_spec_validator.OpenAPIV31SpecValidator)
    jsonschema.Draft202012Validator.check_schema(document["components"]["schemas"]["TrainSpec"])
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops}
    served, catch_all = set(), []
    for r in routes(jp_serverapp):
        if r.template is None:
            catch_all.append(r)
            continue
        assert r.methods, f"{r.pattern}: handler {r.handler.__name__} implements no method"
        served |= {(m.lower(), r.template) for m in r.methods}
    missing = sorted(served - documented)
    assert not missing, f"routes missing from the OpenAPI document (add a doc(...) to the module's DOCS): {missing}"
    stale = sorted(documented - served)
    assert not stale, f"documented operations that no route serves: {stale}"
    # the one route without a template is the namespace's JSON 404; anything else would escape the document
    assert [r.handler.__name__ for r in catch_all] == ["NotFoundHandler"], catch_all
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["summary"] and op["responses"], (method, path)
            assert "403" in op["responses"], (method, path)


def concrete_url(route: openapi.Route, base_url: str) -> str:
    """A path the route's pattern matches, each named group filled with a value its regex accepts."""
    def fill(name: str, regex: str) -> str:
        for value in ("x1", "1", "a", "x/y", "openapi.json"):
            if re.fullmatch(regex, value):
                return value
        raise AssertionError(f"no sample value for group {name} of {route.pattern}")

    if route.template is None:
        url = base_url.rstrip("/") + "/jupyter-ft/api/no/such/route"
    else:
        url = openapi.fill_pattern(route.pattern, fill)
    assert re.fullmatch(route.pattern.removeprefix("^").removesuffix("$"), url), (url, route.pattern)
    return url


async def test_every_route_refuses_unauthenticated_requests(ws, jp_fetch, jp_serverapp, http_server_client):
    checked = 0
    for r in routes(jp_serverapp):
        url = concrete_url(r, jp_serverapp.base_url)
        for method in r.methods or ("GET",):
            body = "{}" if method in ("POST", "PUT", "PATCH") else None
            # no token, no cookie: the raw client, not jp_fetch (which adds the server's token)
            resp = await http_server_client.fetch(url, method=method, body=body, raise_error=False,
                                                  follow_redirects=False, headers={"Content-Type": "application/json"})
            if resp.code == 302 and not issubclass(r.handler, APIHandler):
                # a page (the proxied MLflow UI) sends a browser to Jupyter's login instead, as Lab's own pages do
                assert "/login" in resp.headers["Location"], (method, url, resp.headers["Location"])
            else:
                assert resp.code in (401, 403), f"{method} {url} answered {resp.code} without credentials"
            assert b"Traceback" not in resp.body
            checked += 1
    assert checked >= len(routes(jp_serverapp))


def fill_value(value, seeds: dict[str, str]):
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        name = value[1:-1]
        assert name in seeds, f"example value {value}: add a fixture {name!r} to seed() in tests/test_openapi.py"
        return seeds[name]
    if isinstance(value, dict):
        return {k: fill_value(v, seeds) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_value(v, seeds) for v in value]
    return value


def validate(document: dict, schema: dict, body, where: str) -> None:
    wrapped = {**schema, "components": document["components"]}
    errors = sorted(jsonschema.Draft202012Validator(wrapped).iter_errors(body), key=str)
    assert not errors, f"{where}: the answer does not match the documented schema: {errors[0]}"


async def test_every_example_answers_as_documented(ws, jp_fetch, tmp_path, tiny_model):
    document = await get_document(jp_fetch)
    seeds = seed(ws, tmp_path, tiny_model)
    ran = 0
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            for ex in op.get("x-examples", []):
                values = fill_value(ex["path"], seeds)
                url = re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], path).lstrip("/")
                body = ex["body"]
                body = None if body is None and method in ("get", "delete") else json.dumps(fill_value(body, seeds)
                                                                                             if body is not None else {})
                where = f"{method.upper()} {url} {ex['query']}"
                try:
                    r = await jp_fetch(url, method=method.upper(), body=body, params=fill_value(ex["query"], seeds))
                    code, text = r.code, r.body
                except HTTPClientError as exc:
                    code, text = exc.code, exc.response.body
                assert code == ex["status"], f"{where}: answered {code}, documented {ex['status']}: {text[:300]!r}"
                answer = json.loads(text)
                schema = op["responses"][str(code)]["content"]["application/json"]["schema"]
                validate(document, schema, answer, where)
                ran += 1
    assert ran >= 30, ran


async def test_every_route_taking_a_body_answers_malformed_ones_with_a_4xx(ws, jp_fetch, jp_serverapp):
    """Walks the route table: every POST/PUT/PATCH of an API route, with Jupyter's token, gets bodies that are not
    a JSON object; the answer is a JSON 4xx, never a 500 or a traceback. (Proxies forward bodies verbatim to the
    service behind them, so they are not API routes.)"""
    checked = 0
    for r in routes(jp_serverapp):
        if r.template is None or not issubclass(r.handler, APIHandler):
            continue
        url = concrete_url(r, jp_serverapp.base_url).removeprefix(jp_serverapp.base_url.rstrip("/")).lstrip("/")
        for method in set(r.methods) & {"POST", "PUT", "PATCH"}:
            for body in ("{", "[1, 2]", '"text"', "{" * 100 + "}" * 100):
                try:
                    resp = await jp_fetch(url, method=method, body=body, headers={"Content-Type": "application/json"})
                    code, text = resp.code, resp.body
                except HTTPClientError as exc:
                    code, text = exc.code, exc.response.body
                assert 400 <= code < 500, f"{method} {url} with body {body[:20]!r} answered {code}: {text[:300]!r}"
                assert b"Traceback" not in text and "message" in json.loads(text), (method, url, text[:300])
                checked += 1
    assert checked >= 4 * 5, checked
