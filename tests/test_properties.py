"""Property-based (hypothesis): any spec, REST body or query parameter gives a valid result or a `SpecError` / 4xx
naming the field, never a 500, a traceback or an accepted absurd value. Bounded: a few dozen examples each."""

from __future__ import annotations

import asyncio
import json
import math
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.datasets import demo_data
from jupyter_ft.core.spec.train import SpecError, TrainSpec, parse_spec

FIELDS = sorted(TrainSpec.model_fields)
NESTED = ["r", "alpha", "dropout", "target_modules", "packing", "beta", "experiment", "tracking_uri", "rewards"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**32 - 1, 2**32, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e309, -1e309, 1e-320, 0.5, 0.999999, 1.0]),
    st.text(max_size=40), st.text(min_size=201, max_size=260),
    st.sampled_from(["sft", "dpo", "grpo", "cpu", "cuda:7", "auto", "bf16", "cosine", "nan", "inf", "-1", "1e309"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.sampled_from(NESTED), scalars, max_size=3))
specs = st.dictionaries(st.sampled_from(FIELDS + ["bogus", ""]), values, min_size=1, max_size=4).map(
    lambda d: {"model": "m", "dataset": "d.jsonl", **d})

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
HTTP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def finite_everywhere(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_everywhere(v) for v in value)
    return True


def named_fields_ok(errors, given: dict) -> bool:
    tops = {f.split(".")[0] for f, _ in errors}
    return bool(errors) and tops <= set(FIELDS) | set(given) | {"spec"}


@PROPERTY
@given(specs)
def test_any_spec_is_valid_or_a_spec_error_naming_fields(data):
    try:
        spec = parse_spec(data)
    except SpecError as exc:
        assert named_fields_ok(exc.errors, data), exc.errors
        return
    dumped = spec.model_dump(mode="python")
    assert finite_everywhere(dumped), dumped
    assert 0 <= spec.seed <= 2**32 - 1 and (spec.name is None or len(spec.name) <= 200)
    for name in ("max_steps", "logging_steps", "max_attempts", "max_length", "seed"):
        assert not isinstance(getattr(spec, name), bool)


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False},
            "JupyterFTApp": {"max_upload_bytes": 64 * 1024}}


def _client(port: int, base_url: str, auth: dict[str, str]):
    root = f"http://localhost:{port}{base_url.rstrip('/')}/jupyter-ft/api/"

    def call(path: str, method: str = "GET", body: bytes | None = None, params=None):
        url = root + path + ("?" + urllib.parse.urlencode(params) if params else "")
        req = urllib.request.Request(url, data=body, method=method, headers=dict(auth))
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
    return call


def client_error_ok(code: int, text: str, ws, fields: set[str]) -> None:
    """A 4xx JSON naming one of `fields`, with no traceback and no server path in it."""
    assert code < 500, (code, text)
    body = json.loads(text)
    if code >= 400:
        assert "Traceback" not in text and str(ws.root) not in text, text
        # an error naming a row of the uploaded data names the file (and the row), not a request field
        named = {e.get("field") if e.get("row") is None else "file" for e in body.get("errors", [])}
        assert named and {str(f).split(".")[0] for f in named} <= fields, (code, body)


async def test_rest_bodies_and_query_parameters(ws, jp_fetch, jp_http_port, jp_base_url, jp_auth_header):
    await jp_fetch("jupyter-ft", "api", "jobs")  # the server is up
    call = _client(jp_http_port, jp_base_url, jp_auth_header)
    jobstore.insert(ws, job_id="sft-1", kind="train", technique="sft", name=None, device="cpu",
                    spec={"model": "m", "dataset": "d"}, submitted={}, max_attempts=3)
    for step in (1, 2, 3):
        jobstore.append_event(ws, "sft-1", "metrics", {"values": {"loss": 1.0 / step}}, step=step)
    from jupyter_ft.sdk import datasets

    datasets.add(demo_data.sft_rows(6), name="caps", technique="sft")
    texts = st.one_of(st.text(max_size=30), st.integers(-(2**80), 2**80).map(str),
                      st.sampled_from(["²", "٣", "1e3", "0x10", " 5", "5 ", "+3", "", "nan", "true", "eval", "train"]))

    @HTTP
    @given(specs)
    def bodies(data):
        code, text = call("jobs", "POST", json.dumps(data).encode())
        client_error_ok(code, text, ws, set(FIELDS) | set(data) | {"spec", "body"})

    @HTTP
    @given(st.sampled_from(["after", "tail", "state"]), texts)
    def job_params(name, value):
        path = {"after": "jobs/sft-1/metrics", "tail": "jobs/sft-1/logs", "state": "jobs"}[name]
        code, text = call(path, params={name: value})
        client_error_ok(code, text, ws, {name})

    @HTTP
    @given(st.dictionaries(st.sampled_from(["offset", "limit", "split"]), texts, min_size=1, max_size=3))
    def row_params(params):
        code, text = call("datasets/caps/latest/rows", params=params)
        client_error_ok(code, text, ws, set(params))

    @settings(max_examples=25, deadline=None, database=None)
    @given(st.dictionaries(st.sampled_from(["seed", "eval_fraction", "max_chars", "drop_invalid", "name"]), texts,
                           min_size=1, max_size=3))
    def upload_params(params):
        rows = "".join(json.dumps(r) + "\n" for r in demo_data.sft_rows(4)).encode()
        code, text = call("datasets", "POST", rows, params={"filename": "u.jsonl", "technique": "sft", **params})
        client_error_ok(code, text, ws, set(params) | {"source", "file"})

    for prop in (bodies, job_params, row_params, upload_params):
        await asyncio.to_thread(prop)
