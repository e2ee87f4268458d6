"""`%%ft_eval` and `%ft evals` / `%ft results` through a real IPython `InteractiveShell` (tests/test_magics.py style)."""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.error import UsageError

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore

from .test_magics import run, shell  # noqa: F401  (the shell fixture)
from .test_widgets import random_adapter  # noqa: F401  (a real LoRA adapter on the tiny model)


def test_eval_magic_help_documents_every_option(shell):  # noqa: F811
    doc = shell.find_cell_magic("ft_eval").__doc__
    for opt in ("--wait", "--set FIELD=VALUE", "--timeout", "--no-results", "--var", "spec_file", "evaluators:"):
        assert opt in doc
    ft_doc = shell.find_line_magic("ft").__doc__
    assert "%ft evals" in ft_doc and "%ft results ID" in ft_doc


@pytest.mark.parametrize("code, message", [
    ("%%ft_eval\nmodels: [base]\ndataset: qa.jsonl\nevaluators: [{type: multiple_choice, num_fewshot: -1}]\n",
     "evaluators.0.num_fewshot: Input should be greater than or equal to 0"),
    ("%%ft_eval\nmodels: [base]\ndataset: qa.jsonl\nevaluators: [frobnicate]\n", "unknown evaluator 'frobnicate'"),
    ("%%ft_eval --set limit=0\nmodels: [base]\ndataset: qa.jsonl\nevaluators: [exact_match]\n",
     "limit: Input should be greater than 0"),
    ("%%ft_eval\nmodels: [base, base]\ndataset: qa.jsonl\nevaluators: [exact_match]\n", "'base' is listed twice"),
    ("%%ft_eval\nmodels: [unclosed\n", "the cell is not valid YAML/JSON: line 2"),
    ("%%ft_eval\n- a list\n", "the cell must be a mapping of fields"),
    ("%%ft_eval --set limit\nmodels: [base]\n", "--set 'limit': expected FIELD=VALUE"),
    ("%ft_eval missing.yaml", "file not found: missing.yaml"),
    ("%ft_eval", "%ft_eval needs a spec file"),
    ("%ft results", "%ft results needs a job id"),
    ("%ft results eval-nope", "no job with id 'eval-nope'"),
])
def test_eval_magic_errors_are_one_clear_line(shell, capsys, code, message):  # noqa: F811
    result, out, err = run(shell, capsys, code)
    assert isinstance(result.error_in_exec, UsageError)
    assert message in err and "Traceback" not in err + out, err
    assert len(err.strip().splitlines()) == 1, err
    assert ft.jobs() == []


def test_ft_evals_lists_only_evaluations_and_results_refuses_a_training_job(shell, capsys, ws):  # noqa: F811
    _, out, _ = run(shell, capsys, "%ft evals")
    assert "No evaluations yet" in out
    jobstore.insert(ws, job_id="sft-1", kind="train", technique="sft", name=None, device="cpu",
                    spec={"model": "m", "dataset": "d.jsonl"}, submitted={}, max_attempts=1)
    jobstore.insert(ws, job_id="eval-1", kind="eval", technique="eval", name="base-vs-dpo", device="cpu",
                    spec={"models": ["base", "dpo-1"], "dataset": "qa@1", "evaluators": [
                        {"type": "exact_match", "name": None}, {"type": "python", "function": "mine", "name": None}]},
                    submitted={}, max_attempts=1)
    _, out, _ = run(shell, capsys, "%ft evals")
    assert out.startswith("eval-1 (base-vs-dpo): queued") and "sft-1" not in out
    assert "models base, dpo-1 · dataset qa@1 · evaluators exact_match, mine" in out
    result, out, err = run(shell, capsys, "%ft results sft-1")
    assert "sft-1 is a train job, not an evaluation" in err


MC_FILE = Path(__file__).resolve().parents[1] / "notebooks" / "data" / "mc_facts.jsonl"


@pytest.mark.slow
def test_eval_cell_runs_a_real_evaluation_then_the_form_clones_and_resubmits_it(shell, capsys, ws, tiny_model,  # noqa: F811
                                                                                random_adapter):
    """A real evaluation job (base and a LoRA adapter on the tiny model, the shipped multiple-choice set): the cell
    waits and shows its results; `%ft evals` lists it; the form clones it, and a resubmission's results widget
    follows the second job live until it ends."""
    cell = f"""%%ft_eval --wait --set limit=6 --timeout 300
models: [base, {random_adapter}]
base: {tiny_model}
dataset: {MC_FILE}
split: all
evaluators: [multiple_choice]
bootstrap: 100
name: mc-check
"""
    result, out, err = run(shell, capsys, cell)
    assert result.success, err
    job = shell.user_ns["ft_eval_job"]
    assert job.status == "succeeded" and f"submitted evaluation {job.id}" in out and f"{job.id} succeeded in" in out
    assert "EvalResults\nevaluation " in out  # the widget was displayed (its text form in a terminal shell)
    assert f"evaluation {job.id}: succeeded · 6 samples" in out  # then the final results
    assert "multiple_choice · base: acc " in out and "multiple_choice · adapter: acc " in out

    _, out, _ = run(shell, capsys, "%ft evals")
    assert out.startswith(f"{job.id} (mc-check): succeeded") and "evaluators multiple_choice" in out
    result, _, _ = run(shell, capsys, "%ft results {ft_eval_job.id}")
    view = result.result
    assert not view.live and "succeeded" in view.header.value
    names = [t.name for t in view.figure.data]
    assert sorted(set(names)) == ["adapter", "base"] and all(t.error_y.visible for t in view.figure.data)
    assert len(view.results["samples"]) == 6 and view.table.value.count("class='jft-sample'") == 6
    assert 0 <= len(view.show(disagree_only=True)) <= 6

    form = ft.ui.evaluate(job)  # clone and edit
    assert form.spec_dict()["name"] == "mc-check" and form.controls["limit"].get() == "6"
    form.set(limit=2, name="mc-again")
    second = form.submit()
    assert form.results_view is not None and form.output.children == (form.results_view,)
    assert form.results_view.wait(timeout=300)
    r = form.results_view.results
    assert second.status == "succeeded" and r["state"] == "succeeded" and r["num_samples"] == 2
    assert "succeeded" in form.results_view.header.value and form.results_view.figure is not None
    assert f"submitted evaluation {second.id}" in form.status.value
