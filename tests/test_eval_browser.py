"""The evaluation widgets in a real browser: a real `jupyter lab` on loopback, a real kernel, Debian's Chromium
driven by Playwright. A notebook opens the results widget on an evaluation's results and the evaluation form; the
test reads the rendered DOM (bar traces named per model, error bars drawn, table rows, the disagreement filter
changing the row count, a form error shown on its field) and keeps screenshots beside the test's output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from .test_sidebar import CHROMIUM_ARGS, free_port, require_chromium, stop_process

pytestmark = pytest.mark.slow
TOKEN = "eval-browser-token"
UI_TIMEOUT_MS = 120_000  # the shared 2-core machine can be slow to start a kernel and render
SHOTS = os.environ.get("JUPYTER_FT_SCREENSHOTS")  # also copy the screenshots here when set


class Lab:
    """`jupyter lab` serving `root` on 127.0.0.1 with the app exposed as `window.jupyterapp` (for its commands)."""

    def __init__(self, tmp_path: Path, root: Path):
        config = tmp_path / "jupyter-config"
        config.mkdir()
        self.port = free_port()
        (config / "jupyter_server_config.json").write_text(json.dumps({
            "ServerApp": {"ip": "127.0.0.1", "port": self.port, "port_retries": 0, "open_browser": False,
                          "root_dir": str(root), "allow_root": True},
            "IdentityProvider": {"token": TOKEN}, "LabApp": {"expose_app_in_browser": True}}))
        settings = tmp_path / "lab-settings"
        news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        news.parent.mkdir(parents=True)
        news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))  # no pop-up over the widgets
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
                   JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings))
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "jupyter-lab.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "jupyterlab"], stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env, cwd=root)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                req = urllib.request.Request(f"{self.base}/api/status", headers={"Authorization": f"token {TOKEN}"})
                urllib.request.urlopen(req, timeout=5).read()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if self.proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"jupyter lab did not answer on {self.base}:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.25)


def notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def shot(page, tmp_path: Path, name: str, locator=None) -> Path:
    path = tmp_path / name
    (locator or page).screenshot(path=str(path))
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SHOTS) / name)
    print(f"screenshot: {path}")
    return path


def open_and_run(page, lab: Lab, name: str) -> None:
    page.goto(f"{lab.base}/lab/tree/{name}?token={TOKEN}")
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext.session "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext.session.kernel "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'")
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


def check_results_widget(page, tmp_path: Path, models: list[str], rows: int, disagreeing: int) -> None:
    view = page.locator(".jft-eval-results").first
    view.wait_for()
    plot = view.locator(".js-plotly-plot").first
    plot.wait_for()
    page.wait_for_function("document.querySelector('.jft-eval-results .js-plotly-plot').data "
                           "&& document.querySelector('.jft-eval-results .js-plotly-plot').data.length > 0")
    traces = plot.evaluate("gd => gd.data.map(t => ({name: t.name, type: t.type, err: !!(t.error_y && "
                           "t.error_y.visible), xaxis: t.xaxis || 'x'}))")
    assert {t["type"] for t in traces} == {"bar"}
    assert sorted({t["name"] for t in traces}) == sorted(models)     # traces named per model, not "trace 0"
    assert any(t["err"] for t in traces)
    legend = plot.locator(".legend .legendtext").evaluate_all("els => els.map(e => e.textContent)")
    assert sorted(legend) == sorted(models)                          # one legend entry per model, drawn
    assert plot.locator(".errorbar path.yerror").count() > 0         # error bars drawn
    assert len({t["xaxis"] for t in traces}) >= 2                    # one panel per evaluator
    table = view.locator("table.jft-samples")
    assert table.locator("tr.jft-sample").count() == rows
    shot(page, tmp_path, "eval-results.png", view)
    view.get_by_text("only samples where the models disagree").click()
    page.wait_for_function(f"document.querySelectorAll('.jft-eval-results table.jft-samples tr.jft-sample').length "
                           f"=== {disagreeing}")
    assert f"{disagreeing} of {rows} samples" in view.locator(".jft-count").inner_text()
    shot(page, tmp_path, "eval-results-disagree.png", view)


def check_form(page, tmp_path: Path) -> None:
    form = page.locator(".jft-eval-form").first
    form.wait_for()
    assert "Evaluation" in form.inner_text()
    assert "exact_match" in form.locator("textarea").first.input_value()
    limit = form.locator(".widget-text", has_text="limit").locator("input")
    limit.fill("0")
    limit.press("Enter")
    form.get_by_text("limit: Input should be greater than 0").first.wait_for()
    shot(page, tmp_path, "eval-form.png", form)


def test_eval_widgets_render_and_filter_in_jupyterlab(ws, tmp_path):
    require_chromium()
    from .eval_fixtures import RESULTS

    root = tmp_path / "notebooks"
    root.mkdir()
    (root / "results.json").write_text(json.dumps(RESULTS))
    notebook(root / "eval.ipynb", [
        "import json\nimport jupyter_ft as ft\nresults = json.load(open('results.json'))",
        "view = ft.ui.eval_results(results)\nview",
        "form = ft.ui.evaluate(models=['base', 'dpo-1'], dataset='qa.jsonl', evaluators=['exact_match'])\n"
        "form.add_class('jft-eval-form')\nform",
    ])
    lab = Lab(tmp_path, root)
    try:
        lab.wait_ready()
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1800})
                page.set_default_timeout(UI_TIMEOUT_MS)
                try:
                    open_and_run(page, lab, "eval.ipynb")
                    check_results_widget(page, tmp_path, RESULTS["models"], rows=6, disagreeing=3)
                    check_form(page, tmp_path)
                finally:
                    shot(page, tmp_path, "eval-notebook.png")  # on failure too: what the page showed
            finally:
                browser.close()
    finally:
        stop_process(lab.proc)
