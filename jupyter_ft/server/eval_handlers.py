"""REST routes of evaluations: submit an `EvalSpec`, list evaluation jobs, one job, its results. Thin: parse, call
`core.evaluation`, serialise; errors are raised and mapped to JSON by `BaseHandler.write_error` (a bad spec is a
400 naming its fields, an unknown or non-evaluation job a 404)."""

from __future__ import annotations

import asyncio

import tornado.web

from jupyter_ft.core.evaluate import submit as evaluation
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.summary import job_detail, job_summary

from jupyter_ft.server import params
from jupyter_ft.server.errors import ClientError
from jupyter_ft.server.handlers import BaseHandler, finite


def _eval_record(handler: BaseHandler, job_id: str) -> jobstore.JobRecord:
    rec = handler.record(job_id)
    if rec.kind != "eval":
        raise ClientError("job_id", f"{job_id} is a {rec.kind} job, not an evaluation", status=404)
    return rec


class EvaluationsHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        q = self.query({"state": params.Choice(jobstore.STATES, multi=True)})
        self.reply({"evaluations": [{**job_summary(r), "models": r.spec.get("models", [])}
                                    for r in jobstore.list_jobs(self.ws, q["state"]) if r.kind == "eval"]})

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        # relative paths in the body are read from the server's root, as for training jobs
        job_id = await asyncio.to_thread(evaluation.submit_eval, body, self.ws,
                                         base_dir=self.settings.get("server_root_dir"))
        self.reply({"evaluation": job_summary(jobstore.get(self.ws, job_id))}, 201)


class EvaluationHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        rec = _eval_record(self, job_id)
        self.reply({"evaluation": job_detail(rec)})


class EvaluationResultsHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, job_id: str) -> None:
        _eval_record(self, job_id)
        self.reply(finite(evaluation.results(self.ws, job_id)))


def routes(prefix: str) -> list[tuple[str, type]]:
    job = r"(?P<job_id>[A-Za-z0-9_.-]+)"
    return [
        (rf"{prefix}/evaluations/?", EvaluationsHandler),
        (rf"{prefix}/evaluations/{job}/?", EvaluationHandler),
        (rf"{prefix}/evaluations/{job}/results/?", EvaluationResultsHandler),
    ]


# --- OpenAPI docs of these routes (see server/openapi.py) ---------------------------------------------------------

from jupyter_ft.core.spec.eval import EvalSpec  # noqa: E402

from jupyter_ft.server.handlers import JOB_SUMMARY  # noqa: E402
from jupyter_ft.server.openapi import ANY_OBJECT, BOOLEAN, STRING, array, doc, example, obj  # noqa: E402

_EVAL_SUMMARY = {**JOB_SUMMARY, "properties": {**JOB_SUMMARY["properties"], "models": array(STRING)}}
_EVAL = {"job_id": "@eval"}

DOCS = [
    doc("GET", "evaluations", "Evaluation jobs, oldest first", query={"state": params.Choice(jobstore.STATES, multi=True)},
        response=obj(["evaluations"], evaluations=array(_EVAL_SUMMARY)),
        examples=[example(), example(query={"state": "bogus"}, status=400)]),
    doc("POST", "evaluations", "Submit an evaluation (an `EvalSpec`)", body=EvalSpec, status=201,
        response=obj(["evaluation"], evaluation=JOB_SUMMARY),
        examples=[example(body={"models": ["base"], "dataset": "d", "evaluators": []}, status=400),
                  example(body={"models": "base"}, status=400)]),
    doc("GET", "evaluations/{job_id}", "One evaluation job with its spec",
        response=obj(["evaluation"], evaluation=ANY_OBJECT), errors=(404,),
        examples=[example(path=_EVAL), example(path={"job_id": "@job"}, status=404)]),
    doc("GET", "evaluations/{job_id}/results", "Its results so far: metrics with intervals, pairwise verdicts, "
        "per-sample rows (`partial` until it finished)",
        response=obj(["job_id", "state", "partial", "metrics", "samples"], job_id=STRING, state=STRING,
                     partial=BOOLEAN, metrics=array(ANY_OBJECT), pairwise=array(ANY_OBJECT),
                     samples=array(ANY_OBJECT), errors=array(ANY_OBJECT)), errors=(404,),
        examples=[example(path=_EVAL), example(path={"job_id": "no-such-job"}, status=404)]),
]
