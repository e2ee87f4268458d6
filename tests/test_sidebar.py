"""The JupyterLab sidebar in a real browser: a real `jupyter lab` on loopback, Debian's Chromium driven by Playwright.

The workspace holds a job that failed fast (missing model path) and a queued one. The test opens the
Fine-tuning panel, reads both rows and a log tail, cancels the queued job from the UI (checked over REST), and
checks that a server error and an unreachable server both show a message instead of a blank panel.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.procs import free_port
from jupyter_ft.core.jobs.daemon import stop_scheduler

from .browser import CHROMIUM_ARGS, built_labextension, require_chromium

TOKEN = "sidebar-test-token"
UI_TIMEOUT_MS = 20_000

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def scheduler_paused(ws):
    """Keep queued jobs queued: stop the workspace's scheduler and hold its lock, so a scheduler started by a
    submission (or by the server) finds the lock taken and exits at once. The lock file is left empty so that
    nobody signals a pid."""
    stop_scheduler(ws)
    with open(ws.scheduler_lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fh.seek(0)
        fh.truncate()
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def rest(base: str, path: str, method: str = "GET") -> dict:
    req = urllib.request.Request(f"{base}/jupyter-ft/api/{path}", method=method,
                                 headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def sql(ws, statement: str) -> None:
    with contextlib.closing(sqlite3.connect(ws.db_path, timeout=30)) as db:
        db.execute(statement)
        db.commit()


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def chromium_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


class LabServer:
    """A real `jupyter lab` on 127.0.0.1 serving this checkout's labextension, its output in a log file."""

    def __init__(self, tmp_path: Path, labextension: Path):
        ext_root = tmp_path / "labextensions"
        shutil.copytree(labextension, ext_root / "jupyter_ft")
        config_dir, root_dir = tmp_path / "jupyter-config", tmp_path / "notebooks"
        config_dir.mkdir()
        root_dir.mkdir()
        port = free_port()
        (config_dir / "jupyter_server_config.json").write_text(json.dumps({
            "ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "ip": "127.0.0.1", "port": port,
                          "port_retries": 0, "open_browser": False, "root_dir": str(root_dir), "allow_root": True},
            "IdentityProvider": {"token": TOKEN}}))
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
                   JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"))
        self.base = f"http://127.0.0.1:{port}"
        self.log = tmp_path / "jupyter-lab.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterlab", f"--LabApp.extra_labextensions_path={ext_root}"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root_dir)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                rest(self.base, "jobs")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if self.proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"jupyter lab did not answer on {self.base}:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.25)

    def stop(self) -> None:
        stop_process(self.proc)


@contextlib.contextmanager
def jupyter_lab(tmp_path: Path, labextension: Path):
    """Start the server without waiting for it (it boots while the test prepares jobs); stop it on exit."""
    server = LabServer(tmp_path, labextension)
    try:
        yield server
    finally:
        server.stop()


def test_sidebar_lists_jobs_shows_logs_cancels_and_reports_errors(ws, tmp_path, broken_model, sft_file):
    labextension = built_labextension()
    require_chromium()
    t0 = time.monotonic()

    def phase(what: str) -> None:  # printed on failure: where the time went
        print(f"{time.monotonic() - t0:6.1f} s  {what}")

    with jupyter_lab(tmp_path, labextension) as server:
        failed = ft.submit({"model": str(broken_model), "dataset": str(sft_file), "name": "fails-fast",
                            "device": "cpu"}, ws)
        failed.wait(timeout=60)
        assert failed.status == "failed" and "broken-model" in failed.error
        phase("a job failed fast")
        with scheduler_paused(ws):
            queued = ft.submit({"model": str(broken_model), "dataset": str(sft_file), "name": "waits",
                                "device": "cpu"}, ws)
            assert queued.status == "queued"
            phase("a job queued")
            server.wait_ready()
            phase("jupyter lab answers")
            with chromium_page() as page:
                check_sidebar(page, server, ws, failed, queued, tmp_path, phase)


def check_sidebar(page, server: LabServer, ws, failed: ft.Job, queued: ft.Job, tmp_path: Path, phase) -> None:
    page.goto(f"{server.base}/lab?token={TOKEN}")
    page.locator('.jp-SideBar [data-id="jupyter-ft-sidebar"]').click()
    phase("JupyterLab loaded; Fine-tuning panel opened")
    panel = page.locator("#jupyter-ft-sidebar")
    failed_row = panel.locator(f'.jp-ft-job[data-job-id="{failed.id}"]')
    queued_row = panel.locator(f'.jp-ft-job[data-job-id="{queued.id}"]')

    # Both jobs, their states, what failed and why.
    assert failed_row.locator(".jp-ft-state").inner_text() == "failed"
    assert queued_row.locator(".jp-ft-state").inner_text() == "queued"
    assert "fails-fast" in failed_row.inner_text() and "attempt 1/" in failed_row.inner_text()
    assert "cannot load a tokenizer" in failed_row.locator(".jp-ft-job-error").inner_text()
    assert failed_row.locator(".jp-ft-cancel").count() == 0  # only queued/running jobs can be cancelled

    # A warning the job raises reaches its row while the list is shown (the row's change cursor moves), and its
    # job view shows the whole message.
    jobstore.add_warning(ws, failed.id, "chosen_falling", "over-optimising: the chosen answers' log-prob is falling",
                         "the chosen answers' log-prob has been more than 10% below the reference model's", step=8)
    marker = failed_row.locator('.jp-ft-job-warning[data-code="chosen_falling"]')
    marker.wait_for()
    assert "⚠ over-optimising" in marker.inner_text()
    assert "10% below the reference" in marker.get_attribute("title")
    failed_row.locator(".jp-ft-open-job").click()
    shown = page.locator(f'.jp-ft-jobview[data-job-id="{failed.id}"] .jp-ft-warning[data-code="chosen_falling"]')
    shown.wait_for()
    assert "(step 8)" in shown.inner_text() and "10% below the reference model's" in shown.inner_text()
    page.screenshot(path=str(tmp_path / "job-view-warning.png"))
    phase("a warning shown in the list and the job view")

    # The log tail of the failed job.
    failed_row.locator(".jp-ft-logs-toggle").click()
    log = failed_row.locator(".jp-ft-log pre")
    log.filter(has_text="FAILED").wait_for()
    assert "cannot load a tokenizer" in log.inner_text()
    shot = tmp_path / "sidebar.png"
    page.screenshot(path=str(shot))
    phase(f"rows and log checked; screenshot: {shot}")

    # Cancel the queued job from the UI; the REST state changes.
    queued_row.locator(".jp-ft-cancel").click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    queued_row.locator(".jp-ft-state", has_text="cancelled").wait_for()
    assert rest(server.base, f"jobs/{queued.id}")["job"]["state"] == "cancelled"
    assert queued_row.locator(".jp-ft-cancel").count() == 0
    phase("queued job cancelled from the UI")

    # A server error is shown, and goes away once the server answers again.
    error = panel.locator(".jp-ft-refresh-error")
    sql(ws, "ALTER TABLE jobs RENAME TO jobs_hidden")  # what a damaged workspace database looks like
    try:
        error.filter(has_text="500").wait_for()
    finally:
        sql(ws, "ALTER TABLE jobs_hidden RENAME TO jobs")
    error.wait_for(state="detached")
    assert failed_row.is_visible()  # the list came back

    # An unreachable server is said so, not shown as an empty panel.
    server.stop()
    error.filter(has_text="Cannot reach the Jupyter server").wait_for()
    assert failed_row.is_visible()  # the last known list stays
    page.screenshot(path=str(tmp_path / "sidebar-unreachable.png"))
    phase("server error and unreachable server shown")
