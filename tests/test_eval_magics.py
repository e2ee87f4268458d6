"""`%%ft_eval` and `%ft evals` / `%ft results` through a real IPython `InteractiveShell` (tests/test_magics.py style)."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

import jupyter_ft as ft
from jupyter_ft.core import jobstore

from .test_magics import run, shell  # noqa: F401  (the shell fixture)


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
    ("%%ft_eval\nmodels: [unclosed\n", "the cell is not valid YAML: line 2"),
    ("%%ft_eval\n- a list\n", "the cell must be a YAML mapping of evaluation fields"),
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
