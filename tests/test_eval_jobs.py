"""Evaluation jobs end to end: the scheduler runs `python -m jupyter_ft.evaluation`, results reach results.json and
MLflow, a base and a DPO adapter trained here are compared (with judges), a killed evaluation resumes."""

from __future__ import annotations

import json
import os
import signal

import pytest

import jupyter_ft as ft
from jupyter_ft.core import procs
from jupyter_ft.core.datasets import catalog, demo_data

from .test_jobs import mlflow_run, wait_for, wait_forwarded

pytestmark = pytest.mark.slow


def agrees(prediction, reference, row):
    words = set(reference.lower().split())
    return {"overlap": len(words & set(prediction.lower().split())) / max(len(words), 1),
            "answer_chars": float(len(prediction))}


def test_base_against_dpo_adapter_results_table_judges_and_mlflow(ws, tiny_model, tmp_path):
    pref = catalog.add(ws, demo_data.preference_rows(120), name="human-like", eval_fraction=0.1)
    dpo = ft.train(model=str(tiny_model), dataset=pref.ref, technique="dpo", lora=True, max_steps=8,
                   learning_rate=5e-3, max_length=128, batch_size=8, grad_accum=1, logging_steps=4)
    dpo.wait(timeout=400)
    assert dpo.status == "succeeded", dpo.logs(tail=30)

    broken = "no-such-org/no-such-model"
    from jupyter_ft.serve.stand_in_judge import StandInJudge

    with StandInJudge() as judge:
        j = {"base_url": judge.url, "model": "stand-in"}
        job = ft.evaluate(models=["base", dpo.id, broken], dataset="human-like", limit=8,
                          evaluators=["rouge", agrees, "eval_loss",
                                      {"type": "pairwise_judge", "name": "judge", "judge": j},
                                      {"type": "rubric_judge", "name": "rubric", "judge": j,
                                       "criteria": ["relevance", "human-likeness"]}],
                          generation={"max_new_tokens": 12, "batch_size": 4})
        assert isinstance(job, ft.EvalJob) and job.spec.dataset == pref.ref and job.spec.split == "eval"
        job.wait(timeout=400)
    r = ft.eval_results(job.id)
    # the hub model cannot load: it fails naming itself, the other two models' results stand, marked partial
    assert job.status == "failed" and broken in job.error, job.logs(tail=30)
    assert r["partial"] and [e["model"] for e in r["errors"]] == [broken]
    label = dpo.id
    assert r["models"] == ["base", label, broken] and r["model_refs"]["base"] == str(tiny_model)
    assert r["model_loads"][str(tiny_model)]["base_loads"] == 1  # base and adapter on one loaded model
    got = {(m["model"], m["evaluator"], m["metric"]) for m in r["metrics"]}
    for model in ("base", label):
        assert {(model, "rouge", "rougeL"), (model, "agrees", "overlap"), (model, "agrees", "answer_chars"),
                (model, "eval_loss", "loss"), (model, "eval_loss", "perplexity")} <= got
    for m in r["metrics"]:
        if m["ci_low"] is not None:
            assert m["n"] == 8 and m["ci_low"] <= m["value"] <= m["ci_high"], m
    loss = {m["model"]: m["value"] for m in r["metrics"] if m["metric"] == "loss"}
    assert loss["base"] != loss[label]  # the adapter is really switched on
    assert len(r["samples"]) == 8
    s = r["samples"][0]
    assert s["reference"] and set(s["answers"]) == {"base", label} and set(s["scores"]["base"]) >= {"rougeL", "overlap"}
    # the judges, wired in: the DPO answers against the base's in both orders, rubric scores with reasons
    (pw,) = r["pairwise"]
    assert (pw["model"], pw["baseline"], pw["n"]) == (label, "base", 8) and pw["consistency"] is not None
    assert abs(pw["win"] + pw["tie"] + pw["loss"] - 1) < 1e-9 and set(pw["mean_length"]) == {label, "base"}
    assert set(s["verdicts"]["judge"][f"{label} vs base"]) >= {"ab", "ba", "final"}
    assert {(label, "rubric", "relevance"), ("base", "rubric", "human-likeness")} <= got
    assert set(s["reasons"][label]) == {"relevance", "human-likeness"} and s["scores"][label]["relevance"] >= 1

    # MLflow: metrics per model on the evaluation's own run, linked to the DPO training run, the per-sample table
    wait_forwarded(ws, job)
    run = mlflow_run(job)
    mine = next(m for m in r["metrics"] if m["model"] == label and m["metric"] == "overlap")
    assert run.data.metrics[f"{label}/agrees/overlap"] == pytest.approx(mine["value"])
    assert run.data.metrics[f"{label}/agrees/overlap_ci_high"] == pytest.approx(mine["ci_high"])
    assert "base/rouge/rougeL" in run.data.metrics and f"{label}/judge/win_vs_base" in run.data.metrics
    assert run.data.tags["jupyter_ft.eval.model.1.training_run_id"] == dpo.run_id
    assert run.data.tags["jupyter_ft.technique"] == "eval"
    from mlflow.tracking import MlflowClient

    arts = {a.path for a in MlflowClient(job.record.tracking_uri).list_artifacts(job.run_id, "eval")}
    assert {"eval/samples.json", "eval/results.json"} <= arts


SLOW_CALLS = ""


def slow_scorer(prediction, reference, row):
    import json as _json
    import os as _os
    import time as _time

    with open(SLOW_CALLS, "a") as fh:
        fh.write(_json.dumps({"pid": _os.getpid(), "prompt": row["prompt"]}) + "\n")
    _time.sleep(0.25)
    return float(len(prediction) % 2)


def test_killed_evaluation_resumes_without_rescoring(ws, tiny_model, tmp_path):
    global SLOW_CALLS
    calls = tmp_path / "calls.jsonl"
    SLOW_CALLS = str(calls)
    rows = [{"prompt": f"Tell me about number {i}."} for i in range(24)]
    job = ft.evaluate(models=[str(tiny_model)], dataset=rows, evaluators=[slow_scorer],
                      generation={"max_new_tokens": 4, "batch_size": 8}, bootstrap=100)
    scores = job.dir / "scores.jsonl"
    wait_for(lambda: job.record.done or (scores.is_file() and len(scores.read_text().splitlines()) >= 8),
             timeout=300, what="8 scores")
    assert not job.record.done, job.logs()
    first_pid = job.record.pid
    procs.signal_group(first_pid, signal.SIGKILL)
    before = {json.loads(line)["sample"] for line in scores.read_text().splitlines()}
    job.wait(timeout=300)
    assert job.status == "succeeded", job.logs(tail=30)
    assert job.record.attempt == 2
    assert f"resuming: {len(before)} scored sample(s) kept" in job.logs()
    recs = [json.loads(line) for line in scores.read_text().splitlines()]
    keys = [(d["model"], d["evaluator"], d["sample"]) for d in recs]
    assert len(keys) == len(set(keys)) == 48  # every sample scored once, and its degeneration counted once
    prompt_of = {s["id"]: s["prompt"] for s in job.results()["samples"]}
    prompts_before = {prompt_of[i] for i in before}
    second = [json.loads(line) for line in calls.read_text().splitlines()]
    second = {c["prompt"] for c in second if c["pid"] != first_pid}
    assert second and not (second & prompts_before), "finished samples were scored again"
    r = job.results()
    assert r["answers_cached"][job.results()["models"][0]] == 24  # the answers of attempt 1 were reused
    assert r["metrics"][0]["n"] == 24 and not r["partial"]
