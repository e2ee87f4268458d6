"""REST routes of evaluations: submit an `EvalSpec`, list evaluation jobs, one job, its results. Thin: parse, call
`core.evaluate.submit`, serialise (results go out with core's bar panels and pairwise rows, `core.evaluate.view`, so
the Studio draws the panels the notebook widget draws); errors are raised and mapped to JSON by
`BaseHandler.write_error` (a bad spec is a 400 naming its fields, an unknown or non-evaluation job a 404)."""

from __future__ import annotations

import asyncio

import tornado.web

from jupyter_ft.core.evaluate import submit as evaluation
from jupyter_ft.core.evaluate import view
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
        self.reply(finite(view.with_view(evaluation.results(self.ws, job_id))))


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
from jupyter_ft.server.openapi import (ANY_OBJECT, BOOLEAN, INTEGER, NULLABLE_NUMBER, NULLABLE_STRING,  # noqa: E402
                                      STRING, array, doc, example, obj)

_EVAL_SUMMARY = {**JOB_SUMMARY, "properties": {**JOB_SUMMARY["properties"], "models": array(STRING)}}
_EVAL = {"job_id": "@eval"}
_NULLABLE_INT = {"type": ["integer", "null"]}
_CI = {"type": ["array", "null"], "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
_METRIC_ROW = obj(["model", "evaluator", "metric", "value"], model=STRING, evaluator=STRING, metric=STRING,
                  value=NULLABLE_NUMBER, ci_low=NULLABLE_NUMBER, ci_high=NULLABLE_NUMBER, n=_NULLABLE_INT,
                  subject=NULLABLE_STRING)
# one bar panel of core.evaluate.view.panels: an evaluator's metrics of one order of magnitude, one bar per model
# per metric (values and 95% interval half-widths line up with `metrics`; null where the model has no value)
_PANEL = obj(["key", "title", "evaluator", "metrics", "has_intervals", "bars"], key=STRING, title=STRING,
             evaluator=STRING, metrics=array(STRING), has_intervals=BOOLEAN,
             bars=array(obj(["model", "values", "err_plus", "err_minus", "n"], model=STRING,
                            values=array(NULLABLE_NUMBER), err_plus=array(NULLABLE_NUMBER),
                            err_minus=array(NULLABLE_NUMBER), n=array(_NULLABLE_INT))))
_PAIRWISE_ROW = obj(["evaluator", "model", "baseline", "n", "win", "tie", "loss", "win_rate", "consistency",
                     "human_agreement", "win_ci", "tie_ci", "loss_ci", "win_rate_ci", "length_model",
                     "length_baseline"],
                    evaluator=STRING, model=STRING, baseline=STRING, n=_NULLABLE_INT, win=NULLABLE_NUMBER,
                    tie=NULLABLE_NUMBER, loss=NULLABLE_NUMBER, win_rate=NULLABLE_NUMBER, consistency=NULLABLE_NUMBER,
                    human_agreement=NULLABLE_NUMBER, win_ci=_CI, tie_ci=_CI, loss_ci=_CI, win_rate_ci=_CI,
                    length_model=NULLABLE_NUMBER, length_baseline=NULLABLE_NUMBER)
_DIRECTION = {"type": ["string", "null"], "enum": ["up", "down", None]}
# core.evaluate.view.difference_rows: a model's mean difference from the baseline with its paired 95% interval
_DIFFERENCE_ROW = obj(["model", "baseline", "evaluator", "metric", "value", "ci", "n", "model_mean", "baseline_mean",
                       "direction"],
                      model=STRING, baseline=STRING, evaluator=STRING, metric=STRING, value=NULLABLE_NUMBER, ci=_CI,
                      n=_NULLABLE_INT, model_mean=NULLABLE_NUMBER, baseline_mean=NULLABLE_NUMBER,
                      direction=_DIRECTION)
# core.evaluate.style_compare.verdict for one style evaluator and one model against the baseline
_STYLE_VERDICT = obj(["evaluator", "model", "baseline", "n", "human_like", "verdict", "reasons"],
                     evaluator=STRING, model=STRING, baseline=STRING, n=INTEGER, human_like=BOOLEAN, verdict=STRING,
                     reasons=array(STRING), checks={"type": "object", "additionalProperties": BOOLEAN})
_SAMPLE = obj([], index=INTEGER, prompt=STRING, reference=NULLABLE_STRING,
              answers={"type": "object", "additionalProperties": STRING},
              scores={"type": "object", "additionalProperties": {"type": "object",
                                                                 "additionalProperties": NULLABLE_NUMBER}},
              verdicts={"type": "object", "additionalProperties": ANY_OBJECT}, reasons=ANY_OBJECT,
              disagree=BOOLEAN)
_ERROR = obj([], model=NULLABLE_STRING, evaluator=NULLABLE_STRING, sample=_NULLABLE_INT, message=STRING)
_RESULTS = obj(["job_id", "state", "partial", "models", "dataset", "num_samples", "metrics", "pairwise", "samples",
                "errors", "panels", "pairwise_rows", "baseline", "differences", "difference_rows", "style_verdicts"],
               job_id=STRING, state=STRING, partial=BOOLEAN, models=array(STRING), dataset=NULLABLE_STRING,
               num_samples=INTEGER, metrics=array(_METRIC_ROW), pairwise=array(ANY_OBJECT), samples=array(_SAMPLE),
               errors=array(_ERROR), job_error=STRING, panels=array(_PANEL), pairwise_rows=array(_PAIRWISE_ROW),
               baseline=NULLABLE_STRING, differences=array(ANY_OBJECT), difference_rows=array(_DIFFERENCE_ROW),
               style_verdicts=array(_STYLE_VERDICT))

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
        "per-sample rows (`partial` until it finished), and what every face draws of them: the bar `panels` (one "
        "per evaluator, split by order of magnitude, per-subject breakdowns apart), the `pairwise_rows`, each "
        "model's `difference_rows` from the baseline (paired 95% intervals) and the `style_verdicts`",
        response=_RESULTS, errors=(404,),
        examples=[example(path=_EVAL), example(path={"job_id": "no-such-job"}, status=404)]),
]
