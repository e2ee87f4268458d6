"""Evaluation REST routes through a real jupyter-server (pytest-jupyter's jp_fetch)."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

import jupyter_ft as ft
from jupyter_ft.core.datasets import catalog


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


async def test_evaluation_routes_submit_list_get_results_and_errors(ws, jp_fetch, tmp_path):
    v = catalog.add(ws, [{"prompt": f"q{i}", "answer": str(i)} for i in range(10)], name="qa")
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", "evaluations", method="POST",
                       body=json.dumps({"models": [], "dataset": "qa", "evaluators": [{"type": "nope"}]}))
    assert ei.value.code == 400
    fields = {e["field"] for e in json.loads(ei.value.response.body)["errors"]}
    assert fields == {"models", "evaluators.0"}
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", "evaluations", method="POST",
                       body=json.dumps({"models": ["base"], "dataset": "qa", "evaluators": ["exact_match"]}))
    assert ei.value.code == 400 and json.loads(ei.value.response.body)["errors"][0]["field"] == "base"

    missing = str(tmp_path / "no-model")
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", "evaluations", method="POST",
                       body=json.dumps({"models": [missing], "dataset": "qa", "evaluators": ["exact_match"]}))
    assert ei.value.code == 400 and json.loads(ei.value.response.body)["errors"][0]["field"] == "models.0"
    assert ft.eval_jobs() == []

    r = await jp_fetch("jupyter-ft", "api", "evaluations", method="POST", request_timeout=120,  # probes devices once
                       body=json.dumps({"models": ["some-org/some-model"], "dataset": "qa", "limit": 3,
                                        "evaluators": ["exact_match"]}))
    assert r.code == 201
    job_id = json.loads(r.body)["evaluation"]["id"]
    r = await jp_fetch("jupyter-ft", "api", "evaluations")
    (row,) = json.loads(r.body)["evaluations"]
    assert row["id"] == job_id and row["kind"] == "eval" and row["models"] == ["some-org/some-model"]
    r = await jp_fetch("jupyter-ft", "api", "evaluations", job_id)
    assert json.loads(r.body)["evaluation"]["spec"]["dataset"] == v.ref
    r = await jp_fetch("jupyter-ft", "api", "evaluations", job_id, "results")
    res = json.loads(r.body)
    assert res["job_id"] == job_id and res["models"] == ["some-org/some-model"] and res["dataset"] == v.ref
    assert res["state"] in ("queued", "running", "failed") and res["partial"] is True
    sdk = ft.eval_results(job_id)  # the same results through the SDK
    assert {k: res[k] for k in ("job_id", "models", "model_refs", "dataset")} == {
        k: sdk[k] for k in ("job_id", "models", "model_refs", "dataset")}

    from jupyter_ft.core.jobs import store as jobstore

    jobstore.insert(ws, job_id="sft-train", kind="train", technique="sft", name=None, device="cpu",
                    spec={"model": "m", "dataset": "d"}, submitted={}, max_attempts=1)
    for path in (("evaluations", "sft-train"), ("evaluations", "eval-nope", "results")):
        with pytest.raises(HTTPClientError) as ei:
            await jp_fetch("jupyter-ft", "api", *path)
        assert ei.value.code == 404


async def test_results_reply_carries_cores_panels_and_pairwise_rows(ws, jp_fetch):
    """The Studio draws the panels the server sends: the grouping of core.evaluate.view, not its own."""
    from jupyter_ft.core.evaluate import view as eval_view
    from jupyter_ft.core.evaluate.submit import RESULTS_FILE
    from jupyter_ft.core.jobs import store as jobstore

    from .eval_fixtures import RESULTS

    jobstore.insert(ws, job_id="eval-panels", kind="eval", technique="eval", name=None, device="cpu",
                    spec={"models": RESULTS["models"], "dataset": "d"}, submitted={}, max_attempts=1)
    ws.job_dir("eval-panels").mkdir(parents=True, exist_ok=True)
    (ws.job_dir("eval-panels") / RESULTS_FILE).write_text(json.dumps(RESULTS))
    r = await jp_fetch("jupyter-ft", "api", "evaluations", "eval-panels", "results")
    res = json.loads(r.body)
    assert res["panels"] == eval_view.panel_dicts(res) and res["panels"]
    assert [p["title"] for p in res["panels"]] == [p.title for p in eval_view.panels(RESULTS)]
    assert res["pairwise_rows"] == json.loads(json.dumps(eval_view.pairwise_rows(RESULTS))) and res["pairwise_rows"]
