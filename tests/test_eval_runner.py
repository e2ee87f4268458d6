"""The evaluation runner, run in this process (the scheduler path is covered in test_eval_jobs): an
OpenAI-compatible endpoint as a model under evaluation (a real HTTP server on loopback), whose answers are scored
like a local model's while log-likelihood evaluators refuse it by name; the shipped multiple-choice set."""

from __future__ import annotations

import pytest

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.evaluate.submit import preview_eval
from jupyter_ft.serve.stand_in_judge import StandInJudge


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """A tiny model on a shared 2-core machine: a second torch thread only spins waiting for the first."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_endpoint_answers_are_scored_and_loglikelihood_refuses_it(ws, tmp_path):
    from jupyter_ft.evaluation.runner import EvalRun

    rows = [{"question": f"What is {i} + {i}?", "choices": [str(2 * i), str(2 * i + 1)], "answer": 0,
             "total": str(2 * i)} for i in range(4)]
    v = catalog.add(ws, rows, name="sums", technique="prompt", eval_fraction=0.0)
    with StandInJudge(answer=lambda messages: "4") as server:
        entry = f"{server.url}#stand-in"
        spec = preview_eval({"models": [entry], "dataset": v.ref, "split": "train",
                             "evaluators": [{"type": "numeric_answer", "answer_column": "total"}, "multiple_choice"]}, ws)
        jobstore.insert(ws, job_id="eval-here", kind="eval", technique="eval", name=None, device=spec.device,
                        spec=spec.model_dump(mode="json"), submitted={}, max_attempts=1)
        ws.job_dir("eval-here").mkdir(parents=True)
        run = EvalRun(ws, jobstore.get(ws, "eval-here"))
        assert run.run() == "failed"
        asked = [b["messages"][-1]["content"] for b in server.bodies]
    assert sorted(asked) == sorted(r["question"] for r in rows)  # one chat request per sample
    r = ft.eval_results("eval-here")
    (err,) = r["errors"]
    assert err["model"] == "stand-in" and err["evaluator"] == "multiple_choice"
    assert "is an endpoint" in err["message"] and "/v1/completions with echo and logprobs" in err["message"]
    (m,) = [m for m in r["metrics"] if m["evaluator"] == "numeric_answer"]
    assert m["value"] == 0.25 and m["n"] == 4  # only 2 + 2 = 4
    assert r["model_refs"]["stand-in"] == entry and r["chat_template"]["stand-in"] == "endpoint (chat API)"


def test_multiple_choice_job_records_its_settings_and_shows_the_choices(ws, tiny_model):
    """The shipped set scored by the runner in process: acc per subject, chat template recorded, answers and
    references shown as choice text."""
    from pathlib import Path

    from jupyter_ft.evaluation.runner import EvalRun

    mc = Path(__file__).resolve().parents[1] / "notebooks" / "data" / "mc_facts.jsonl"
    spec = preview_eval({"models": [str(tiny_model)], "dataset": str(mc), "limit": 12, "bootstrap": 50,
                         "evaluators": [{"type": "multiple_choice", "num_fewshot": 1, "chat_template": True}]}, ws)
    jobstore.insert(ws, job_id="eval-mc", kind="eval", technique="eval", name=None, device=spec.device,
                    spec=spec.model_dump(mode="json"), submitted={}, max_attempts=1)
    ws.job_dir("eval-mc").mkdir(parents=True)
    assert EvalRun(ws, jobstore.get(ws, "eval-mc")).run() == "succeeded"
    r = ft.eval_results("eval-mc")
    assert r["multiple_choice"]["multiple_choice"]["chat_template"] is True
    metrics = {m["metric"] for m in r["metrics"]}
    assert {"acc", "acc_norm", "acc/geography"} <= metrics
    s = r["samples"][0]
    row = catalog.get(ws, spec.dataset).rows(0, 1)[0]
    assert s["reference"] == row["choices"][row["answer"]] and s["answers"]["tiny-llama"] in row["choices"]


def explodes_on_long(prediction, reference, row):
    if len(row["prompt"]) > 14:
        raise ValueError("too long")
    return 1.0


def test_an_evaluator_that_raises_is_named_with_its_sample_and_the_rest_stands(ws, tiny_model):
    from jupyter_ft.evaluation.runner import EvalRun

    rows = [{"prompt": "Say hi." if i % 2 else f"Say something long {i}.", "answer": "hi"} for i in range(4)]
    v = catalog.add(ws, rows, name="hi", eval_fraction=0.0)
    spec = preview_eval({"models": [str(tiny_model)], "dataset": v.ref, "split": "train", "bootstrap": 20,
                         "generation": {"max_new_tokens": 3},
                         "evaluators": [explodes_on_long, "exact_match"]}, ws)
    jobstore.insert(ws, job_id="eval-boom", kind="eval", technique="eval", name=None, device=spec.device,
                    spec=spec.model_dump(mode="json"), submitted={}, max_attempts=1)
    ws.job_dir("eval-boom").mkdir(parents=True)
    assert EvalRun(ws, jobstore.get(ws, "eval-boom")).run() == "failed"
    r = ft.eval_results("eval-boom")
    (err,) = r["errors"]
    first_long = next(s["id"] for s in r["samples"] if "long" in s["prompt"])
    assert err["evaluator"] == "explodes_on_long" and err["sample"] == first_long
    assert "raised ValueError: too long on sample" in err["message"] and "<evaluator explodes_on_long> line 3" in err["message"]
    assert [m["n"] for m in r["metrics"] if m["evaluator"] == "exact_match"] == [4]  # the other evaluator stands
    assert r["partial"]


def _run_here(ws, job_id, data):
    from jupyter_ft.evaluation.runner import EvalRun

    spec = preview_eval(data, ws)
    jobstore.insert(ws, job_id=job_id, kind="eval", technique="eval", name=None, device=spec.device,
                    spec=spec.model_dump(mode="json"), submitted={}, max_attempts=1)
    ws.job_dir(job_id).mkdir(parents=True)
    state = EvalRun(ws, jobstore.get(ws, job_id)).run()
    return state, ft.eval_results(job_id)


def test_adding_an_evaluator_does_not_regenerate_answers(ws, tiny_model):
    v = catalog.add(ws, [{"prompt": f"Name a colour {i}.", "answer": "blue"} for i in range(6)], name="c",
                    eval_fraction=0.0)
    common = {"models": [str(tiny_model)], "dataset": v.ref, "split": "train", "bootstrap": 20,
              "generation": {"max_new_tokens": 6, "batch_size": 4}}
    s1, r1 = _run_here(ws, "eval-one", {**common, "evaluators": ["exact_match"]})
    s2, r2 = _run_here(ws, "eval-two", {**common, "evaluators": ["exact_match", "rouge"]})
    s3, r3 = _run_here(ws, "eval-three", {**common, "evaluators": ["rouge"], "generation": {"max_new_tokens": 5}})
    assert (s1, s2, s3) == ("succeeded",) * 3
    m = "tiny-llama"
    assert r1["answers_generated"] == {m: 6} and r2["answers_generated"] == {m: 0} and r2["answers_cached"] == {m: 6}
    assert [s["answers"] for s in r1["samples"]] == [s["answers"] for s in r2["samples"]]
    assert r3["answers_generated"] == {m: 6}  # other generation settings: other answers
