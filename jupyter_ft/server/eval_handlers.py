"""REST routes of evaluations: submit an `EvalSpec`, list evaluation jobs, one job, its results. Thin: parse, call
`core.evaluation`, serialise; a bad spec is a 400 naming its fields."""

from __future__ import annotations

import asyncio
import json

import tornado.web

from jupyter_ft.core import evaluation, jobstore
from jupyter_ft.core.specs import SpecError

from .handlers import BaseHandler, summary


def _eval_record(handler: BaseHandler, job_id: str) -> jobstore.JobRecord | None:
    rec = handler.record(job_id)
    if rec is not None and rec.kind != "eval":
        handler.fail(404, f"{job_id} is a {rec.kind} job, not an evaluation")
        return None
    return rec


class EvaluationsHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        states = self.get_query_arguments("state") or None
        self.reply({"evaluations": [{**summary(r), "models": r.spec.get("models", [])}
                                    for r in jobstore.list_jobs(self.ws, states) if r.kind == "eval"]})

    @tornado.web.authenticated
    async def post(self) -> None:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            return self.fail(400, f"request body is not JSON: {exc}")
        try:
            job = await asyncio.to_thread(evaluation.submit_eval, body, self.ws)
        except SpecError as exc:
            return self.fail(400, str(exc), errors=[{"field": f, "message": m} for f, m in exc.errors])
        self.reply({"evaluation": summary(job.record)}, 201)


class EvaluationHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        if rec := _eval_record(self, job_id):
            self.reply({"evaluation": {**summary(rec), "spec": rec.spec, "submitted": rec.submitted}})


class EvaluationResultsHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        if _eval_record(self, job_id):
            self.reply(evaluation.results(self.ws, job_id))


def routes(prefix: str) -> list[tuple[str, type]]:
    job = r"(?P<job_id>[A-Za-z0-9_.-]+)"
    return [
        (rf"{prefix}/evaluations/?", EvaluationsHandler),
        (rf"{prefix}/evaluations/{job}/?", EvaluationHandler),
        (rf"{prefix}/evaluations/{job}/results/?", EvaluationResultsHandler),
    ]
