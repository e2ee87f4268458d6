"""The evaluation form (`ft.ui.evaluate(...)`): the job form's machinery (`widgets.form.JobForm` over
`core.spec.fields`) generated from `EvalSpec` instead of `TrainSpec`, so every field of the schema is there and a bad
value is marked on its field with the schema's message. Evaluators are a YAML list; "Add evaluator" appends a
template for a chosen type, built from that type's required fields in the schema. Submit shows the live results."""

from __future__ import annotations

import typing
from typing import Any

import ipywidgets as widgets
import yaml

from jupyter_ft.core.spec.eval import EVALUATOR_TYPES, EvalSpec, EvaluatorSpec, evaluator_entry, parse_eval_spec
from jupyter_ft.core.spec.train import SpecError

from jupyter_ft.widgets.form import JobForm

# Placeholder values for required evaluator fields (what a user replaces); anything else required starts empty.
EXAMPLES: dict[str, Any] = {
    "judge": {"kind": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "judge-model"},
    "criteria": ["relevance", "human_likeness"],
    "task": "path/to/task.yaml",
    "reward": {"type": "exact_match"},
    "function": "my_evaluator",
    "source": "def my_evaluator(prediction, reference, row):\n    return float(prediction.strip() == str(reference).strip())\n",
}


def _members() -> dict[str, type]:
    union = typing.get_args(EvaluatorSpec)[0]
    return {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in typing.get_args(union)}


def evaluator_template(kind: str) -> dict[str, Any]:
    """A starting entry for an evaluator type: its `type` and each required field with a placeholder."""
    members = _members()
    if kind not in members:
        raise SpecError([("evaluators", f"unknown evaluator type {kind!r}; expected one of {', '.join(EVALUATOR_TYPES)}")])
    entry: dict[str, Any] = {"type": kind}
    for name, info in members[kind].model_fields.items():
        if name != "type" and info.is_required():
            entry[name] = EXAMPLES.get(name, "")
    return entry


class EvalForm(JobForm):
    """An evaluation job form built from the `EvalSpec` schema. Programmatic use mirrors the clicks:
    `form.set(models=["base", job.id], evaluators=["exact_match", my_fn])`, `form.add_evaluator("rouge")`,
    `form.spec()` (raises `SpecError`, fields marked), `form.submit()` -> Job, with the live results below."""

    TITLE = "Evaluation"

    def __init__(self, ws: Any = None, *, job: Any = None, show_results: bool = True, **fields: Any):
        self.show_results = show_results
        self.results_view = None
        super().__init__(ws, job=job, schema=EvalSpec, options={}, show_chart=False, auto_size=False, **fields)
        self.evaluator_type = widgets.Dropdown(options=list(EVALUATOR_TYPES), value="exact_match",
                                               layout=widgets.Layout(width="180px"))
        self.add_button = widgets.Button(description="Add evaluator", icon="plus", layout=widgets.Layout(width="140px"),
                                         tooltip="append a template of this evaluator type to the list")
        self.add_button.on_click(lambda _: self.add_evaluator(self.evaluator_type.value))
        row = self.controls["evaluators"].row
        adder = widgets.HBox([widgets.Label("", layout=widgets.Layout(width="150px")), self.evaluator_type,
                              self.add_button])
        self.children = tuple(c for child in self.children for c in ((child, adder) if child is row else (child,)))
        self.controls["evaluators"].widget.rows = max(4, self.controls["evaluators"].widget.rows)

    def set(self, **fields: Any) -> EvalForm:
        """Fill fields from spec values; evaluators may be type names, mappings or notebook functions (shipped as
        source, shown in the box as the `python` entry the job will run)."""
        if "evaluators" in fields and fields["evaluators"] is not None:
            items = fields["evaluators"] if isinstance(fields["evaluators"], (list, tuple)) else [fields["evaluators"]]
            try:
                fields["evaluators"] = [evaluator_entry(e) for e in items]
            except Exception as exc:  # an unshippable function, an unknown type name: on the field, not a traceback
                self.controls["evaluators"].mark(str(exc))
                raise SpecError([("evaluators", str(exc))]) from None
        super().set(**fields)
        return self

    def add_evaluator(self, kind: str) -> EvalForm:
        """Append a template entry of evaluator type `kind` to the evaluators list (edit its placeholders)."""
        text = str(self.controls["evaluators"].get()).strip()
        try:
            current = yaml.safe_load(text) if text else []
        except yaml.YAMLError:
            current = None
        if not isinstance(current, list):
            self._say("error", "evaluators: fix the list before adding to it (it is not a YAML list)")
            return self
        return self.set(evaluators=[*current, evaluator_template(kind)])

    def _parse_other(self) -> EvalSpec:
        return parse_eval_spec(self.spec_dict())

    def submit(self) -> Any:
        """Validate, submit the evaluation, show its live results below the form; returns the Job. Raises
        `SpecError` (fields marked) when the spec is invalid."""
        from jupyter_ft.core.evaluate import submit as evaluation
        from jupyter_ft.sdk.evaluations import EvalJob

        self.spec()
        self._say("info", "submitting…")
        try:
            job = EvalJob(evaluation.submit_eval(self.spec_dict(), self.ws), self.ws)
        except SpecError as exc:
            self._mark(exc.errors)
            raise
        self.job = job
        self._say("ok", f"submitted evaluation {job.id}" + (f" (MLflow run {job.run_id})" if job.run_id else ""))
        if self.show_results:
            from jupyter_ft.widgets.eval_results import EvalResults

            self.results_view = EvalResults(job.id, self.ws)
            self.output.children = [self.results_view]
        if self.on_submit:
            self.on_submit(job)
        return job

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = data["text/plain"].replace("JobForm", "EvalForm", 1)
        return data

