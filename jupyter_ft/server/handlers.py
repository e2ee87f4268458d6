"""REST handlers. Each one parses the request, calls core, serialises the answer.

Handlers raise; `BaseHandler.write_error` is the one place an exception becomes a reply (see `errors.reply_for`):
JSON 4xx naming the field or parameter for client mistakes, a bare 500 for server faults, never a traceback or a
server path. Query parameters go through `params.parse`.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import tornado.web
from jupyter_server.base.handlers import APIHandler

from jupyter_ft.sdk import jobs as api
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.metrics import MetricHistory
from jupyter_ft.core.jobs.summary import job_detail, job_summary, list_summaries

from jupyter_ft.server import errors, params
from jupyter_ft.server.errors import ClientError, PayloadTooLarge

MAX_JSON_BODY = 1 << 20  # a job spec is a few KiB; anything near this is a mistake
MAX_JSON_DEPTH = 32


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


MAX_WAIT_S = 30.0  # longest a long-poll (`wait=`) is held open
WAIT_TICK_S = 0.1  # how often a held request re-reads the change counter (one indexed SQLite read)
LOG_CHUNK = 256 * 1024  # most log bytes one `logs?offset=` answer carries


async def hold(handler: BaseHandler, wait: float, changed: Callable[[], bool]) -> None:
    """Long-poll: return once `changed()` or after `wait` seconds (or when the client went away)."""
    deadline = time.monotonic() + wait
    while wait and not changed() and time.monotonic() < deadline:
        if handler.request.connection.stream is None or handler.request.connection.stream.closed():
            return
        await asyncio.sleep(WAIT_TICK_S)


class JobsHandler(BaseHandler):
    """The jobs list. Plain `GET jobs` sends every job plus `cursor`; `GET jobs?since=<cursor>` sends only the jobs
    written since (a step logged, a state change, ...), with `wait=S` held open until something changes (at most
    S seconds), so an idle sidebar costs one small request per S seconds instead of the whole list every 2 s."""

    QUERY = {"state": params.Choice(jobstore.STATES, multi=True), "since": params.Int(None),
             "wait": params.Float(0.0, min=0.0, max=MAX_WAIT_S)}

    @tornado.web.authenticated
    async def get(self) -> None:
        q = self.query(self.QUERY)
        since = q["since"]
        if since is None:
            cursor = jobstore.cursor(self.ws)  # read before the rows: a write in between is sent again, not lost
            self.reply({"jobs": list_summaries(self.ws, q["state"]), "cursor": cursor, "full": True})
            return
        await hold(self, q["wait"], lambda: jobstore.cursor(self.ws) != since)
        cursor, recs, reset = jobstore.changes(self.ws, since)
        states = set(q["state"] or jobstore.STATES)
        self.reply({"jobs": [job_summary(r) for r in recs if r.state in states], "cursor": cursor, "full": reset})

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        # relative paths in the body are read from the server's root, where the file browser stands
        job = await asyncio.to_thread(api.submit, body, self.ws, base_dir=self.settings.get("server_root_dir"))
        self.reply({"job": job_summary(job.record)}, 201)


class JobHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        rec = self.record(job_id)
        from jupyter_ft.core.registry.versions import registration_state

        self.reply({"job": {**job_detail(rec), "registration": registration_state(self.ws, rec),
                            "mlflow_ui_url": self.mlflow_ui_url(rec)}})

    def mlflow_ui_url(self, rec: jobstore.JobRecord) -> str | None:
        """The run in the MLflow UI that Jupyter proxies (server/mlflow_ui.py) when the run is in the workspace's own
        store; a tracking server's own address otherwise."""
        if not (rec.mlflow_run_id and rec.mlflow_experiment_id and rec.tracking_uri):
            return None
        if rec.tracking_uri.startswith(("http://", "https://")):
            return rec.tracking_uri.rstrip("/") + f"/#/experiments/{rec.mlflow_experiment_id}/runs/{rec.mlflow_run_id}"
        return (self.base_url.rstrip("/") + "/jupyter-ft/mlflow/"
                f"#/experiments/{rec.mlflow_experiment_id}/runs/{rec.mlflow_run_id}")

    @tornado.web.authenticated
    def delete(self, job_id: str) -> None:
        self.record(job_id)
        self.reply({"id": job_id, "state": api.cancel(job_id, self.ws)})


class JobLogsHandler(BaseHandler):
    """The job's log: the last `tail` lines, or with `offset=N` the bytes from N on (at most 256 KiB; the answer's
    `next_offset` is the next call's `offset`), so a log view appends instead of re-reading the whole file."""

    QUERY = {"tail": params.Int(None, min=1, max=1_000_000), "offset": params.Int(None),
             "wait": params.Float(0.0, min=0.0, max=MAX_WAIT_S)}

    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        self.record(job_id)
        q = self.query(self.QUERY)
        job = api.Job(job_id, self.ws)
        if q["offset"] is None:
            self.reply({"id": job_id, "logs": job.logs(tail=q["tail"])})
            return
        path = job.dir / "job.log"
        size = lambda: path.stat().st_size if path.is_file() else 0  # noqa: E731
        offset = q["offset"]
        await hold(self, q["wait"], lambda: size() != offset or self.record(job_id).done)
        self.reply({"id": job_id, **read_from(path, offset)})


def read_from(path: Path, offset: int) -> dict[str, Any]:
    """Log text from byte `offset` (up to `LOG_CHUNK`), cut before an incomplete UTF-8 character at the end. An
    offset past the end (the file was replaced) starts again from 0 with `reset`."""
    size = path.stat().st_size if path.is_file() else 0
    reset = offset > size
    start = 0 if reset else offset
    data = b""
    if size > start:
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read(LOG_CHUNK)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(data, final=False)
    used = len(data) - len(decoder.getstate()[0])
    return {"logs": text, "offset": start, "next_offset": start + used, "size": size, "reset": reset}


class JobMetricsHandler(BaseHandler):
    """Metric rows as `Job.metrics()` and the notebook chart see them (read through `MetricHistory`, so after a
    crash-resume the steps the new attempt re-logged replace the dead attempt's). With `?since=SEQ` (or its older
    name `after`: the `last_seq` of a previous answer) only rows from the first step touched since then are sent:
    a client drops its rows from `from_step` on and appends these. `wait=S` holds the request until a new point is
    logged or the job ends (at most S seconds)."""

    QUERY = {"after": params.Int(0), "since": params.Int(None), "wait": params.Float(0.0, min=0.0, max=MAX_WAIT_S)}

    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        self.record(job_id)
        q = self.query(self.QUERY)
        after = q["since"] if q["since"] is not None else q["after"]
        if after:
            await hold(self, q["wait"], lambda: jobstore.last_event_seq(self.ws, job_id, "metrics") > after
                       or self.record(job_id).done)
        history = MetricHistory(self.ws, job_id)
        history.poll()
        last_seq = max(history.cursor, after)
        if after:
            new = jobstore.events(self.ws, job_id, "metrics", after)
            from_step = min((int(e["step"] or 0) for e in new), default=None)
        else:
            from_step = 0
        rows = [] if from_step is None else [r for r in history.rows() if r["step"] >= from_step]
        self.reply({"id": job_id, "metrics": rows, "from_step": from_step, "last_seq": last_seq, "cursor": last_seq,
                    "state": self.record(job_id).state})


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


# --- OpenAPI docs of these routes (see server/openapi.py) ---------------------------------------------------------

from jupyter_ft.core.spec.train import TrainSpec  # noqa: E402

from jupyter_ft.server.openapi import (ANY_OBJECT, BOOLEAN, INTEGER, NULLABLE_NUMBER, NULLABLE_STRING, NUMBER, STRING, array, doc, example, obj)

_NULLABLE_INT = {"type": ["integer", "null"]}
JOB_SUMMARY = obj(
    ["id", "kind", "technique", "state", "done", "step", "attempt", "created_at"],
    id=STRING, kind=STRING, technique=STRING, name=NULLABLE_STRING, state={"enum": list(jobstore.STATES)},
    done=BOOLEAN, device=STRING, created_at=NUMBER, started_at=NULLABLE_NUMBER, finished_at=NULLABLE_NUMBER,
    attempt=INTEGER, max_attempts=INTEGER, error=NULLABLE_STRING, step=INTEGER, total_steps=_NULLABLE_INT,
    progress=NULLABLE_NUMBER, duration_s=NULLABLE_NUMBER, eta_s=NULLABLE_NUMBER, model=NULLABLE_STRING,
    dataset=NULLABLE_STRING, mlflow_run_id=NULLABLE_STRING, mlflow_experiment_id=NULLABLE_STRING,
    run_url=NULLABLE_STRING, describe=STRING,
    warnings={**array(obj(["code", "title", "message"], code=STRING, title=STRING, message=STRING, step=_NULLABLE_INT)),
              "description": "what the job warned about while it ran (e.g. over-optimisation of preference training)"})
JOB_LIST = obj(["jobs", "cursor", "full"], jobs=array(JOB_SUMMARY),
               cursor={**INTEGER, "description": "pass as `since` to get only the jobs written after this answer"},
               full={**BOOLEAN, "description": "true: this is every job (replace the list); false: only changes"})
JOB_DETAIL = obj(["job"], job={**JOB_SUMMARY, "required": JOB_SUMMARY["required"] + ["spec", "submitted"],
                               "properties": {**JOB_SUMMARY["properties"], "spec": ANY_OBJECT, "submitted": ANY_OBJECT,
                                              "mlflow_ui_url": {**NULLABLE_STRING, "description": "the run in the "
                                                                "MLflow UI proxied by Jupyter"},
                                              "registration": obj(["state"], state={"enum": [
                                                  "pending", "registered", "failed", "skipped"]},
                                                  model=NULLABLE_STRING, error=NULLABLE_STRING)}})
LOGS = obj(["id", "logs"], id=STRING, logs=STRING, offset=INTEGER,
           next_offset={**INTEGER, "description": "the next call's `offset`"}, size=INTEGER, reset=BOOLEAN)
METRIC_ROW = {"type": "object", "required": ["step"], "properties": {"step": INTEGER},
              "additionalProperties": {"type": ["number", "null"]}}
METRICS = obj(["id", "metrics", "last_seq", "cursor"], id=STRING, metrics=array(METRIC_ROW),
              from_step={**_NULLABLE_INT, "description": "drop your rows from this step on, then append `metrics`"},
              last_seq=INTEGER, cursor={**INTEGER, "description": "the next call's `since`"}, state=STRING)
_JOB = {"job_id": "@job"}

DOCS = [
    doc("GET", "jobs", "List jobs, or (with `since`) only the jobs changed since a cursor", query=JobsHandler.QUERY,
        response=JOB_LIST, description="With `since=<cursor>` and `wait=S` the request is held until a job changes "
        "(at most S seconds): the sidebar's live view without polling the whole list.",
        examples=[example(), example(query={"since": "0"}), example(query={"since": "@cursor", "wait": "0.2"}),
                  example(query={"state": "queued,running"}), example(query={"since": "x"}, status=400),
                  example(query={"wait": "99"}, status=400)]),
    doc("POST", "jobs", "Submit a training job (a `TrainSpec`; an `EvalSpec` with kind: eval is taken too)",
        body=TrainSpec, response=obj(["job"], job=JOB_SUMMARY), status=201,
        examples=[example(body={"model": "@model", "dataset": "d", "learning_rate": -1}, status=400),
                  example(body={"dataset": "d"}, status=400)]),
    doc("GET", "jobs/{job_id}", "One job with its resolved spec and the spec as submitted", response=JOB_DETAIL,
        errors=(404,), examples=[example(path=_JOB), example(path={"job_id": "no-such-job"}, status=404)]),
    doc("DELETE", "jobs/{job_id}", "Cancel a job (queued: at once; running: SIGTERM, then SIGKILL)",
        response=obj(["id", "state"], id=STRING, state=STRING), errors=(404,),
        examples=[example(path={"job_id": "@cancel_job"}), example(path={"job_id": "no-such-job"}, status=404)]),
    doc("GET", "jobs/{job_id}/logs", "The job's log: the last `tail` lines, or the bytes from `offset` on",
        query=JobLogsHandler.QUERY, response=LOGS, errors=(400, 404),
        examples=[example(path=_JOB, query={"tail": "5"}), example(path=_JOB, query={"offset": "0"}),
                  example(path=_JOB, query={"offset": "-1"}, status=400)]),
    doc("GET", "jobs/{job_id}/metrics", "Logged metrics, or (with `since`) the rows touched since a cursor",
        query=JobMetricsHandler.QUERY, response=METRICS, errors=(400, 404),
        examples=[example(path=_JOB), example(path=_JOB, query={"since": "1", "wait": "0.1"}),
                  example(path=_JOB, query={"after": "-3"}, status=400)]),
]
