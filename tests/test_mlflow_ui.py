"""The MLflow UI inside JupyterLab (server/mlflow_ui.py): started on demand on the workspace's store, proxied
behind Jupyter's authentication, stopped with the server. The slow test runs a real `jupyter lab`, opens the UI
through the proxy in Debian's Chromium (screenshot kept), and calls the UI's index, a static file and its ajax API
through the proxy over loopback."""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_ft.core import jobstore

from .browser import TOKEN, artifacts_dir, chromium_page, lab  # noqa: F401  (lab is a fixture)


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


async def test_status_before_first_use_names_the_proxied_url(ws, jp_fetch, jp_base_url):
    r = await jp_fetch("jupyter-ft", "api", "mlflow")
    status = json.loads(r.body)
    assert status["state"] == "stopped" and status["pid"] is None
    assert status["url"] == jp_base_url.rstrip("/") + "/jupyter-ft/mlflow/"
    assert status["tracking_uri"] == ws.tracking_uri
    # a job's detail links its run in the proxied UI
    jobstore.insert(ws, job_id="sft-run", kind="train", technique="sft", name=None, device="cpu",
                    spec={"model": "m", "dataset": "d"}, submitted={}, max_attempts=3)
    r = await jp_fetch("jupyter-ft", "api", "jobs", "sft-run")
    assert json.loads(r.body)["job"]["mlflow_ui_url"] is None
    jobstore.set_fields(ws, "sft-run", mlflow_run_id="abc", mlflow_experiment_id="7", tracking_uri=ws.tracking_uri)
    r = await jp_fetch("jupyter-ft", "api", "jobs", "sft-run")
    assert json.loads(r.body)["job"]["mlflow_ui_url"] == status["url"] + "#/experiments/7/runs/abc"


@pytest.fixture
def external_store(monkeypatch):
    monkeypatch.setenv("JUPYTER_FT_TRACKING_URI", "http://mlflow.example:5000")


async def test_an_external_tracking_server_is_opened_not_started(external_store, ws, jp_fetch):
    r = await jp_fetch("jupyter-ft", "api", "mlflow", method="POST", body="")
    assert json.loads(r.body)["state"] == "external" and json.loads(r.body)["pid"] is None
    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft/mlflow/", follow_redirects=False)
    assert ei.value.code == 302 and ei.value.response.headers["Location"] == "http://mlflow.example:5000"


def request(base: str, path: str, body: bytes | None = None, headers: dict | None = None, token: bool = True):
    h = {"Authorization": f"token {TOKEN}"} if token else {}
    req = urllib.request.Request(f"{base}/{path}", data=body, headers={**h, **(headers or {})},
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.mark.slow
def test_mlflow_ui_through_the_proxy_in_chromium(lab, ws, tmp_path):  # noqa: F811
    from jupyter_ft.core import tracking

    c = tracking.client(ws.tracking_uri)  # the store a job would have written (tables created here, not by the UI)
    exp = c.create_experiment("studio-check", artifact_location=ws.artifact_root.as_uri())
    run = c.create_run(exp, run_name="proxied-run")
    c.log_metric(run.info.run_id, "loss", 1.25, step=1)
    shots = artifacts_dir(tmp_path, "test_mlflow_ui_through_the_proxy_in_chromium")

    # a browser asking before it runs gets a page that says it is starting (and reloads itself)
    code, headers, body = request(lab.base, "jupyter-ft/mlflow/", headers={"Accept": "text/html"})
    assert code in (200, 503), body[:300]
    if code == 503:
        assert b"Starting the MLflow UI" in body and headers["Retry-After"] == "1"
    code, _, body = request(lab.base, "jupyter-ft/api/mlflow", body=b"")  # start, and wait until it listens
    status = json.loads(body)
    assert code == 200 and status["state"] == "running", status
    pid = status["pid"]

    code, headers, index = request(lab.base, "jupyter-ft/mlflow/")
    assert code == 200 and headers["Content-Type"].startswith("text/html") and b"<title>MLflow</title>" in index
    script = re.search(rb'src="([^"]+\.js)"', index).group(1).decode()
    code, headers, js = request(lab.base, "jupyter-ft/mlflow/" + script.lstrip("./"))
    assert code == 200 and "javascript" in headers["Content-Type"] and len(js) > 10_000
    search = json.dumps({"max_results": 50}).encode()
    code, _, body = request(lab.base, "jupyter-ft/mlflow/ajax-api/2.0/mlflow/experiments/search", search,
                            {"Content-Type": "application/json"})
    assert code == 200 and "studio-check" in [e["name"] for e in json.loads(body)["experiments"]]
    # without Jupyter's credentials nothing reaches MLflow; a cross-site POST is refused by Jupyter's XSRF check
    code, _, _ = request(lab.base, "jupyter-ft/mlflow/ajax-api/2.0/mlflow/experiments/search", search,
                         {"Content-Type": "application/json"}, token=False)
    assert code in (302, 403)

    with chromium_page() as page:
        page.goto(f"{lab.base}/jupyter-ft/mlflow/?token={TOKEN}#/experiments/{exp}/runs/{run.info.run_id}")
        try:
            page.get_by_text("proxied-run").first.wait_for(timeout=120_000)
            page.get_by_text("loss").first.wait_for()
            page.wait_for_timeout(500)
        finally:
            page.screenshot(path=str(shots / "mlflow-ui-proxied.png"))
        assert not [e for e in page.console_errors if "ajax-api" in e and "40" in e], page.console_errors

    lab.stop()  # the Jupyter server stops the MLflow UI it started
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"mlflow server {pid} still runs after the Jupyter server stopped")
