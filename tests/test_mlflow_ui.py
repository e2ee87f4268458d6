"""The MLflow UI inside JupyterLab (server/mlflow_ui.py): started on demand on the workspace's store, proxied
behind Jupyter's authentication, stopped with the server. The slow test calls the UI's index, a static file and its
ajax API through the proxy of a real jupyter server on loopback and opens the UI in Debian's Chromium (screenshot
kept)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_ft.core.jobs import store as jobstore

from .browser import artifacts_dir


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


@pytest.mark.slow
async def test_mlflow_ui_through_the_proxy_in_chromium(ws, jp_fetch, jp_serverapp, jp_http_port, jp_base_url, tmp_path):
    """The real server on loopback: the UI's index, a static file and its ajax API through the proxy, the UI drawn
    in Chromium (screenshot kept), and the MLflow server stopped by the extension's shutdown."""
    from playwright.async_api import async_playwright

    from jupyter_ft.core import tracking

    from .browser import CHROMIUM_ARGS, VIEWPORT, require_chromium

    c = tracking.client(ws.tracking_uri)  # the store a job would have written (tables created here, not by the UI)
    exp = c.create_experiment("studio-check", artifact_location=ws.artifact_root.as_uri())
    run = c.create_run(exp, run_name="proxied-run")
    c.log_metric(run.info.run_id, "loss", 1.25, step=1)
    shots = artifacts_dir(tmp_path, "test_mlflow_ui_through_the_proxy_in_chromium")

    async def fetch(path, **kw):
        try:
            r = await jp_fetch(path, **kw)
        except HTTPClientError as exc:
            r = exc.response
        return r.code, r.headers, r.body

    # a browser asking before it runs gets a page that says it is starting (and reloads itself)
    code, headers, body = await fetch("jupyter-ft/mlflow/", headers={"Accept": "text/html"})
    assert code == 503 and b"Starting the MLflow UI" in body and headers["Retry-After"] == "1", (code, body[:300])
    code, _, body = await fetch("jupyter-ft/api/mlflow", method="POST", body="", request_timeout=600)
    status = json.loads(body)
    assert code == 200 and status["state"] == "running", status
    pid = status["pid"]

    code, headers, index = await fetch("jupyter-ft/mlflow/")
    assert code == 200 and headers["Content-Type"].startswith("text/html") and b"<title>MLflow</title>" in index
    script = re.search(rb'src="([^"]+\.js)"', index).group(1).decode()
    code, headers, js = await fetch("jupyter-ft/mlflow/" + script.lstrip("./"))
    assert code == 200 and "javascript" in headers["Content-Type"] and len(js) > 10_000
    search = json.dumps({"max_results": 50})
    code, _, body = await fetch("jupyter-ft/mlflow/ajax-api/2.0/mlflow/experiments/search", method="POST",
                                body=search, headers={"Content-Type": "application/json"})
    assert code == 200 and "studio-check" in [e["name"] for e in json.loads(body)["experiments"]]

    base = f"http://127.0.0.1:{jp_http_port}{jp_base_url.rstrip('/')}"
    token = jp_serverapp.identity_provider.token
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            await page.goto(f"{base}/jupyter-ft/mlflow/?token={token}#/experiments/{exp}/runs/{run.info.run_id}")
            try:
                await page.get_by_text("proxied-run").first.wait_for(timeout=120_000)
                await page.get_by_text("loss").first.wait_for(timeout=60_000)
                await page.wait_for_timeout(500)
            finally:
                await page.screenshot(path=str(shots / "mlflow-ui-proxied.png"))
            assert not [e for e in errors if "ajax-api" in e], errors
        finally:
            await browser.close()

    # the extension's shutdown (what the Jupyter server calls when it stops) stops the MLflow server it started
    (ext,) = jp_serverapp.extension_manager.extension_apps["jupyter_ft"]
    await ext.stop_extension()
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        await asyncio.sleep(0.2)
    else:
        pytest.fail(f"mlflow server {pid} still runs after the extension stopped")
