"""REST handlers. Each one parses the request, calls core, serialises the answer.

Handlers raise; `BaseHandler.write_error` is the one place an exception becomes a reply (see `errors.reply_for`):
JSON 4xx naming the field or parameter for client mistakes, a bare 500 for server faults, never a traceback or a
server path. Query parameters go through `params.parse`.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler

from jupyter_ft.core import api, jobstore
from jupyter_ft.core.metrics import MetricHistory
from jupyter_ft.core.summary import job_summary, list_summaries

from . import errors, params
from .errors import ClientError, PayloadTooLarge

MAX_JSON_BODY = 1 << 20  # a job spec is a few KiB; anything near this is a mistake
MAX_JSON_DEPTH = 32


def summary(rec: jobstore.JobRecord) -> dict[str, Any]:
    """What a job list carries for one job (no spec: that is on `GET /jobs/{id}`)."""
    return job_summary(rec)


class BaseHandler(APIHandler):
    @property
    def ws(self):
        return self.settings["jupyter_ft_workspace"]

    def reply(self, body: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        try:
            text = json.dumps(body, allow_nan=False)
        except ValueError:  # a NaN/inf from stored data (a dataset cell): browsers cannot parse those
            text = json.dumps(finite(body), allow_nan=False)
        self.finish(text)

    def query(self, schema: dict[str, params.Param]) -> dict[str, Any]:
        return params.parse(self.request.query_arguments, schema)

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object (an absent body is `{}`); anything else is a 4xx naming `body`."""
        raw = self.request.body or b"{}"
        if len(raw) > MAX_JSON_BODY:
            raise PayloadTooLarge("body", MAX_JSON_BODY)
        try:
            body = json.loads(raw)
        except RecursionError:
            raise ClientError("body", f"JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
        except ValueError as exc:
            raise ClientError("body", f"request body is not JSON: {exc}") from None
        if depth(body) > MAX_JSON_DEPTH:
            raise ClientError("body", f"JSON nested more than {MAX_JSON_DEPTH} levels deep")
        if not isinstance(body, dict):
            raise ClientError("body", f"must be a JSON object of spec fields, got {type(body).__name__}")
        return body

    def record(self, job_id: str) -> jobstore.JobRecord:
        return jobstore.get(self.ws, job_id)

    # --- the one error mapper ---
    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        status, body = errors.reply_for(exc, status_code)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        paths = getattr(self, "_extra_paths", []) + errors.server_paths(self.ws.root)
        self.finish(json.dumps(errors.scrub(body, paths), default=str))

    def log_exception(self, typ, value, tb) -> None:
        if errors.is_client_error(value):
            self.log.info("jupyter_ft: %s %s: %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)


def finite(value: Any) -> Any:
    """`value` with every NaN/inf float replaced by None (JSON has no spelling for them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of parsed JSON, counted without recursion and stopping just past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


class JobsHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        q = self.query({"state": params.Choice(jobstore.STATES, multi=True)})
        self.reply({"jobs": list_summaries(self.ws, q["state"])})

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        # relative paths in the body are read from the server's root, where the file browser stands
        job = await asyncio.to_thread(api.submit, body, self.ws, base_dir=self.settings.get("server_root_dir"))
        self.reply({"job": summary(job.record)}, 201)


class JobHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        rec = self.record(job_id)
        from jupyter_ft.core.registry import registration_state

        self.reply({"job": {**summary(rec), "spec": rec.spec, "submitted": rec.submitted,
                            "registration": registration_state(self.ws, rec)}})

    @tornado.web.authenticated
    def delete(self, job_id: str) -> None:
        self.record(job_id)
        self.reply({"id": job_id, "state": api.cancel(job_id, self.ws)})


class JobLogsHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        self.record(job_id)
        q = self.query({"tail": params.Int(None, min=1, max=1_000_000)})
        self.reply({"id": job_id, "logs": api.Job(job_id, self.ws).logs(tail=q["tail"])})


class JobMetricsHandler(BaseHandler):
    """Metric rows as `Job.metrics()` and the notebook chart see them (read through `MetricHistory`, so after a
    crash-resume the steps the new attempt re-logged replace the dead attempt's). With `?after=SEQ` (the
    `last_seq` of a previous answer) only rows from the first step touched since then are sent: a client drops
    its rows from `from_step` on and appends these."""

    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        self.record(job_id)
        after = self.query({"after": params.Int(0)})["after"]
        history = MetricHistory(self.ws, job_id)
        history.poll()
        last_seq = max(history.cursor, after)
        if after:
            new = jobstore.events(self.ws, job_id, "metrics", after)
            from_step = min((int(e["step"] or 0) for e in new), default=None)
        else:
            from_step = 0
        rows = [] if from_step is None else [r for r in history.rows() if r["step"] >= from_step]
        self.reply({"id": job_id, "metrics": rows, "from_step": from_step, "last_seq": last_seq})


class NotFoundHandler(BaseHandler):
    """Any other path under the namespace: a JSON 404 naming the route, whatever the method."""

    @tornado.web.authenticated
    def _missing(self, *args: Any) -> None:
        raise ClientError("route", f"no route {self.request.method} {self.request.path}", status=404)

    get = post = put = delete = patch = head = _missing


def routes(prefix: str) -> list[tuple[str, type]]:
    job = r"(?P<job_id>[A-Za-z0-9_.-]+)"
    return [
        (rf"{prefix}/jobs/?", JobsHandler),
        (rf"{prefix}/jobs/{job}/?", JobHandler),
        (rf"{prefix}/jobs/{job}/logs/?", JobLogsHandler),
        (rf"{prefix}/jobs/{job}/metrics/?", JobMetricsHandler),
    ]


def fallback_route(prefix: str) -> tuple[str, type]:
    """Must be registered after every other route of the namespace."""
    return (rf"{prefix}(/.*)?", NotFoundHandler)
