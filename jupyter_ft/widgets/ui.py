"""`ft.ui`: the notebook panels. Importing this is free; each function loads ipywidgets/plotly (and, for
`compare`, torch in a worker thread) only when called.

    import jupyter_ft as ft
    form = ft.ui.train(model="./tiny", dataset="chat.jsonl")   # the job form; form.submit() or click Submit
    ft.ui.chart(job.id)                                         # live chart; ft.ui.chart([a, b]) overlays runs
    ft.ui.jobs()                                                # all jobs: cancel, chart, MLflow link, clone
    ft.ui.compare(models=["base", job.id], prompts=["Hi!"])     # answers side by side
    ft.ui.evaluate(models=["base", job.id], dataset="qa.jsonl") # the evaluation form
    ft.ui.eval_results(eval_job.id)                             # bars with intervals, pairwise, samples side by side
    ft.ui.lineage("name@3")                                     # datasets → job → version → evaluations, clickable
    ft.ui.playground(endpoint, blind=True)                      # streamed answers per model; blind A/B votes
"""

from __future__ import annotations

from typing import Any


def train(job: Any = None, *, ws: Any = None, **fields: Any):
    """A job form. `job` (a Job or id) fills it from that job's spec ("clone and edit"); keyword arguments fill
    fields, e.g. `train(model="./tiny", dataset="d.jsonl", max_steps=50)`."""
    from jupyter_ft.widgets.form import JobForm

    return JobForm(ws, job=job, **fields)


def chart(jobs: Any, *, ws: Any = None, **options: Any):
    """A live chart of one job (id or Job) or several overlaid (a list). Works for running and finished jobs,
    in any kernel: the whole history is read back from the workspace."""
    from jupyter_ft.widgets.chart import chart as _chart

    return _chart(jobs, ws=ws, **options)


def jobs(*, ws: Any = None, **options: Any):
    """All jobs in the workspace, live: status, progress, duration; cancel, chart, MLflow run, clone."""
    from jupyter_ft.widgets.jobs_panel import JobsPanel

    return JobsPanel(ws, **options)


def compare(models: list[str], prompts: str | list[Any], *, ws: Any = None, **settings: Any):
    """Answers of several models side by side: `"base"`, adapter folders, job ids (their output), model folders.
    Settings: max_new_tokens, temperature, top_p; `base=` names the base when no adapter says it."""
    from jupyter_ft.widgets.compare import ComparePanel

    return ComparePanel(models, prompts, ws=ws, **settings)


def datasets(ref: Any = None, *, ws: Any = None, page_size: int = 10, split: str = "train"):
    """A paged preview of `ref` (catalog `name[@version]`, local file, DataFrame, Dataset; only the page on screen
    is read; preference rows show chosen | rejected side by side); without `ref`, a chooser over every catalog
    dataset."""
    from jupyter_ft.widgets import catalog

    return catalog.preview(ref, ws, page_size=page_size, split=split) if ref is not None else catalog.browser(ws)


def evaluate(job: Any = None, *, ws: Any = None, **fields: Any):
    """An evaluation form generated from `EvalSpec`: `evaluate(models=["base", job.id], dataset="qa.jsonl")`;
    `job` (an evaluation job or id) fills it from that job's spec. Submit shows the live results below it."""
    from jupyter_ft.widgets.eval_form import EvalForm

    return EvalForm(ws, job=job, **fields)


def eval_results(source: Any, *, ws: Any = None, **options: Any):
    """An evaluation's results: grouped bars per metric across models with 95% intervals, the pairwise judge's
    win/tie/loss, consistency and mean lengths, and the per-sample table (filter: where the models disagree).
    `source` is an evaluation job id or Job (followed live while it runs) or a results dict."""
    from jupyter_ft.widgets.eval_results import EvalResults

    return EvalResults(source, ws, **options)


def lineage(ref: Any, *, ws: Any = None):
    """A model version's lineage as a small graph (datasets → training job → version → evaluations → endpoints);
    click a node for its details and MLflow link. `ref`: `name@3`, `name@alias`, a `Lineage` or its dict."""
    from jupyter_ft.widgets.lineage import lineage as _lineage

    return _lineage(ref, ws)


def playground(endpoint_or_models: Any, *, ws: Any = None, **options: Any):
    """Ask an endpoint's models (or any OpenAI-compatible URL `http://host/v1#model`, or a list) the same prompt and
    watch the answers stream in side by side. `blind=True`: two answers with the models hidden, vote A / B / tie,
    then the models are revealed; votes become DPO data with `ft.playground.votes_dataset()`. Options: models=
    (some of the endpoint's models), judge= (a JudgeSpec or `http://host/v1#model`: a score under each answer),
    max_tokens, temperature, top_p, seed, prompt."""
    from jupyter_ft.widgets.playground import Playground

    return Playground(endpoint_or_models, ws=ws, **options)
