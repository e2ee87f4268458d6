"""Evaluations from the SDK: submit one, list them, read results, try an evaluator before launching, compare two
models' answers for style.

    import jupyter_ft as ft
    job = ft.evaluate(models=["base", train_job.id], dataset="qa", evaluators=["exact_match", "rouge", my_eval])
    job.wait(); ft.eval_results(job.id)["metrics"]

Submission and its checks live in `jupyter_ft.core.evaluate.submit`; this module adds the handles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.evaluate.rows import to_sample
from jupyter_ft.core.evaluate.submit import _dataset_arg, results, samples, submit_eval
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.workspace import Workspace, workspace
from jupyter_ft.sdk.jobs import EvalJob


def evaluate(models: list[str] | str, dataset: Any, evaluators: list[Any], *,
             ws: Workspace | str | Path | None = None, **fields: Any) -> EvalJob:
    """Submit an evaluation of `models` on `dataset`. Any `EvalSpec` field may be given (`split`, `limit`,
    `generation={...}`, `base`, `bootstrap`, ...); evaluators are type names, mappings or functions
    `(prediction, reference, row) -> float | dict`."""
    ws = workspace(ws)
    ref = _dataset_arg(ws, dataset, evaluators)
    if ref != dataset and not isinstance(dataset, (str, Path, catalog.DatasetVersion)) and "split" not in fields:
        fields["split"] = "all"  # rows handed over here were never trained on: score every one
        fields["auto"] = {**fields.get("auto", {}), "split": "all: the rows were added to the catalog by this evaluation"}
    return EvalJob(submit_eval({"models": models, "dataset": ref, "evaluators": evaluators, **fields}, ws), ws)


def eval_jobs(ws: Workspace | None = None, states: list[str] | None = None) -> list[EvalJob]:
    """Handles on the evaluation jobs of the workspace, oldest first; `states` keeps only those in these states."""
    ws = ws or workspace()
    return [EvalJob(r.id, ws) for r in jobstore.list_jobs(ws, states) if r.kind == "eval"]




# --- dry run -----------------------------------------------------------------------------------------------------

def dry_run_evaluator(evaluator: Any, rows: Any, predictions: list[str] | None = None, *,
                      ws: Workspace | None = None, n: int = 5):
    """Run an evaluator (a function `(prediction, reference, row)`, a reward, or a spec entry) in this process on a
    few rows, with the same checks the job makes, and return a table of its scores. `rows`: a list of dicts or a
    dataset reference (its first `n` rows). `predictions`: the answers to score (default: each row's reference,
    which shows what a perfect answer scores). Raises `EvaluatorError` naming the evaluator and the sample."""
    from jupyter_ft.evaluation.evaluators import dry_run  # torch-free module

    if isinstance(rows, (str, catalog.DatasetVersion)):
        ws = ws or workspace()
        version = rows if isinstance(rows, catalog.DatasetVersion) else catalog.get(ws, str(rows))
        split = "eval" if version.num_eval else "train"
        sample_list = samples(version, split, n)
    else:
        sample_list = [to_sample(i, dict(r)) for i, r in enumerate(list(rows)[:n])]
    return dry_run(evaluator, sample_list, predictions)


def compare_style(base: list[str], tuned: list[str], *, bootstrap: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Style and degeneration of two models' answers to the same prompts (`base[i]`, `tuned[i]` answer prompt i),
    in this process: per metric both means with 95% bootstrap intervals and the tuned - base difference with its
    paired interval, plus `verdict` ("more human-like" only over >= 50 prompts, with a warm marker up, formal markers
    not up, no more loops, length within 0.5x-2x; its `reasons` say why either way). A plain dict; the evaluation
    job's `style` evaluator computes the same (`style_verdicts` in its results)."""
    from jupyter_ft.core.evaluate.style_compare import compare_answers

    return compare_answers(base, tuned, bootstrap=bootstrap, seed=seed)


def eval_results(job_id: str, ws: Workspace | str | Path | None = None) -> dict[str, Any]:
    """The results of an evaluation job (metrics with 95% intervals, per-sample answers and scores, errors),
    current while it runs; see `jupyter_ft.core.evaluate.submit.results` for the schema."""
    return results(workspace(ws), job_id)
