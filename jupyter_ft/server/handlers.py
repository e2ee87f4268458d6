"""REST handlers. Each one parses the request, calls core, serialises the answer; errors are JSON 4xx."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler

from jupyter_ft.core import api, jobstore
from jupyter_ft.core.specs import SpecError

SUMMARY_FIELDS = ("id", "kind", "technique", "name", "state", "device", "created_at", "started_at", "finished_at",
                  "attempt", "max_attempts", "error", "step", "total_steps", "progress", "model", "dataset",
                  "mlflow_run_id", "mlflow_experiment_id")


def summary(rec: jobstore.JobRecord) -> dict[str, Any]:
    d = rec.to_dict()
    return {k: d[k] for k in SUMMARY_FIELDS}


class BaseHandler(APIHandler):
    @property
    def ws(self):
        return self.settings["jupyter_ft_workspace"]

    def reply(self, body: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(body))

    def fail(self, status: int, message: str, **extra: Any) -> None:
        self.reply({"message": message, **extra}, status)

    def record(self, job_id: str) -> jobstore.JobRecord | None:
        try:
            return jobstore.get(self.ws, job_id)
        except jobstore.JobNotFound as exc:
            self.fail(404, str(exc))
            return None


class JobsHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        states = self.get_query_arguments("state") or None
        self.reply({"jobs": [summary(r) for r in jobstore.list_jobs(self.ws, states)]})

    @tornado.web.authenticated
    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            return self.fail(400, f"request body is not JSON: {exc}")
        try:
            # relative paths in the body are read from the server's root, where the file browser stands
            job = await asyncio.to_thread(api.submit, body, self.ws, base_dir=self.settings.get("server_root_dir"))
        except SpecError as exc:
            return self.fail(400, str(exc), errors=[{"field": f, "message": m} for f, m in exc.errors])
        self.reply({"job": summary(job.record)}, 201)


class JobHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        if rec := self.record(job_id):
            self.reply({"job": {**summary(rec), "spec": rec.spec, "submitted": rec.submitted}})

    @tornado.web.authenticated
    def delete(self, job_id: str) -> None:
        if self.record(job_id):
            self.reply({"id": job_id, "state": api.cancel(job_id, self.ws)})


class JobLogsHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        if self.record(job_id):
            tail = self.get_query_argument("tail", None)
            try:
                n = int(tail) if tail is not None else None
            except ValueError:
                return self.fail(400, f"tail must be an integer, got {tail!r}")
            self.reply({"id": job_id, "logs": api.Job(job_id, self.ws).logs(tail=n)})


class JobMetricsHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        if self.record(job_id):
            after = self.get_query_argument("after", "0")
            if not after.isdigit():
                return self.fail(400, f"after must be a non-negative integer, got {after!r}")
            evs = jobstore.events(self.ws, job_id, "metrics", int(after))
            self.reply({"id": job_id, "metrics": [{"step": e["step"], "seq": e["seq"], **e["values"]} for e in evs],
                        "last_seq": evs[-1]["seq"] if evs else int(after)})


def routes(prefix: str) -> list[tuple[str, type]]:
    job = r"(?P<job_id>[A-Za-z0-9_.-]+)"
    return [
        (rf"{prefix}/jobs/?", JobsHandler),
        (rf"{prefix}/jobs/{job}/?", JobHandler),
        (rf"{prefix}/jobs/{job}/logs/?", JobLogsHandler),
        (rf"{prefix}/jobs/{job}/metrics/?", JobMetricsHandler),
    ]
