"""Browser tests' harness: a real `jupyter lab` on loopback, Debian's Chromium driven by Playwright, a notebook whose
cells the test runs one by one, and screenshots kept where a person can open them.

What a user sees is what the browser draws, not what Python holds, so panels are checked in the page's DOM.
Use it from a test module:

    from .browser import lab, page, notebook          # fixtures (they start and stop everything)

    @pytest.mark.slow
    def test_my_panel(notebook, ws):
        cell = notebook.run("import jupyter_ft as ft; ft.ui.jobs()")
        cell.output.locator(".widget-gridbox").wait_for()
        notebook.screenshot(cell, "jobs")              # -> $JUPYTER_FT_TEST_ARTIFACTS or the test's tmp_path

The kernel runs this interpreter with this environment (so `PYTHONPATH` and the `ws` fixture's `JUPYTER_FT_HOME`
reach it); JupyterLab runs with its own settings, workspace and runtime folders under the test's tmp_path. The
notebook attaches every cell to the DOM (no windowing), so off-screen cells can be read and photographed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from jupyter_ft.core.procs import free_port

CHROMIUM = os.environ.get("JUPYTER_FT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TOKEN = "browser-test-token"
UI_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1500, "height": 1000}
ANSI = re.compile(r"\x1b\[[0-9;]*m")

# JupyterLab user settings for tests: every cell in the DOM, no news or update pop-ups over the screenshots.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def require_chromium() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
                    "(`make test` does this when it is missing) or set JUPYTER_FT_CHROMIUM")
    return CHROMIUM


def built_labextension() -> Path:
    """The labextension this checkout built (`pip install -e .` builds it into jupyter_ft/labextension)."""
    import jupyter_ft as ft

    (entry,) = ft._jupyter_labextension_paths()
    path = Path(ft.__file__).parent / entry["src"]
    if not (path / "package.json").is_file():
        pytest.fail(f"the JupyterLab extension is not built ({path} has no package.json): run `pip install -e .` "
                    "(its build hook builds it) or `cd labextension && jlpm install && jlpm build`")
    return path


def artifacts_dir(tmp_path: Path, test_name: str = "") -> Path:
    """Where screenshots go: `$JUPYTER_FT_TEST_ARTIFACTS/<test>` when set (CI keeps it), else `<tmp_path>/screenshots`."""
    root = os.environ.get("JUPYTER_FT_TEST_ARTIFACTS")
    out = Path(root) / (test_name or "browser") if root else tmp_path / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Phases:
    """Prints how long each phase took (pytest shows it when a test fails): where a slow browser test's time went."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self, what: str) -> None:
        print(f"{time.monotonic() - self.t0:6.1f} s  {what}", flush=True)


class LabServer:
    """A real `jupyter lab` on 127.0.0.1 with the jupyter_ft server extension, its output in a log file.

    `labextension`: a built labextension folder served in place of the installed one (the sidebar's test passes
    this checkout's build). The app is exposed as `window.jupyterapp` so tests can run JupyterLab commands."""

    def __init__(self, tmp_path: Path, labextension: Path | None = None, env: dict[str, str] | None = None):
        config_dir, self.root_dir = tmp_path / "jupyter-config", tmp_path / "notebooks"
        settings_dir = tmp_path / "lab-settings"
        for d in (config_dir, self.root_dir, settings_dir):
            d.mkdir(exist_ok=True)
        for name, values in LAB_SETTINGS.items():
            f = settings_dir / name
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(values))
        args = [sys.executable, "-m", "jupyterlab", "--LabApp.expose_app_in_browser=True"]
        if labextension is not None:
            ext_root = tmp_path / "labextensions"
            shutil.copytree(labextension, ext_root / "jupyter_ft", dirs_exist_ok=True)
            args.append(f"--LabApp.extra_labextensions_path={ext_root}")
        port = free_port()
        (config_dir / "jupyter_server_config.json").write_text(json.dumps({
            "ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "ip": "127.0.0.1", "port": port,
                          "port_retries": 0, "open_browser": False, "root_dir": str(self.root_dir),
                          "allow_root": True},
            "IdentityProvider": {"token": TOKEN}}))
        full_env = dict(os.environ, JUPYTER_CONFIG_DIR=str(config_dir),
                        JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
                        JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"),
                        JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
                        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "lab-workspaces"),
                        PYDEVD_DISABLE_FILE_VALIDATION="1", **(env or {}))
        self.base = f"http://127.0.0.1:{port}"
        self.log = tmp_path / "jupyter-lab.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=full_env, cwd=self.root_dir)

    def get(self, path: str) -> Any:
        """GET a server path (e.g. `api/status`, `jupyter-ft/api/jobs`) with the token; the decoded JSON."""
        req = urllib.request.Request(f"{self.base}/{path}", headers={"Authorization": f"token {TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                self.get("api/status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if self.proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"jupyter lab did not answer on {self.base}:\n{self.log_tail()}")
                time.sleep(0.25)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        stop_process(self.proc)


@contextlib.contextmanager
def jupyter_lab(tmp_path: Path, labextension: Path | None = None, **kwargs: Any) -> Iterator[LabServer]:
    """Start the server without waiting for it (it boots while the test prepares); stop it on exit."""
    server = LabServer(tmp_path, labextension, **kwargs)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def chromium_page(viewport: dict[str, int] | None = None, timeout_ms: int = UI_TIMEOUT_MS):
    """A headless Debian Chromium page; the page's console errors are kept in `page.console_errors`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=viewport or VIEWPORT)
            page.set_default_timeout(timeout_ms)
            page.console_errors = []  # type: ignore[attr-defined]
            page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
            page.on("pageerror", lambda e: page.console_errors.append(str(e)))
            yield page
        finally:
            browser.close()


def open_lab(page, server: LabServer) -> None:
    """Load JupyterLab (a fresh workspace) and wait until its app has started."""
    page.goto(f"{server.base}/lab?reset&token={TOKEN}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell && "
                           "document.querySelector('#jp-main-dock-panel')", timeout=120_000)
    page.evaluate("() => window.jupyterapp.started")


class CellError(AssertionError):
    """A notebook cell raised: the message holds the traceback as the notebook shows it."""


@dataclass
class Cell:
    """One executed cell: its DOM (`locator`, `output`) and its outputs as nbformat JSON."""

    index: int
    locator: Any
    outputs: list[dict[str, Any]]

    @property
    def output(self):
        return self.locator.locator(".jp-Cell-outputWrapper")

    @property
    def text(self) -> str:
        """Stream and text/plain outputs, joined."""
        parts = []
        for o in self.outputs:
            if o.get("output_type") == "stream":
                parts.append(o["text"] if isinstance(o["text"], str) else "".join(o["text"]))
            elif "text/plain" in o.get("data", {}):
                t = o["data"]["text/plain"]
                parts.append(t if isinstance(t, str) else "".join(t))
        return "".join(parts)


_RUN_CELL_JS = """
async ([code, index]) => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  const nb = panel.content;
  let i = index;
  if (i === null) {
    const last = nb.widgets[nb.widgets.length - 1];
    if (last.model.sharedModel.getSource() !== '' || last.model.type !== 'code') {
      nb.activeCellIndex = nb.widgets.length - 1;
      await app.commands.execute('notebook:insert-cell-below');
    }
    i = nb.widgets.length - 1;
    nb.widgets[i].model.sharedModel.setSource(code);
  }
  nb.activeCellIndex = i;
  nb.deselectAll();
  await app.commands.execute('notebook:run-cell');
  const cell = nb.widgets[i];
  while (cell.model.executionCount === null || panel.sessionContext.session.kernel.status !== 'idle') {
    await new Promise(r => setTimeout(r, 50));
  }
  return [i, cell.model.outputs.toJSON()];
}
"""


class Notebook:
    """A notebook open in JupyterLab with a live kernel. `run(code)` appends a cell, runs it, waits for the kernel
    and returns the `Cell` (a cell that raised fails the test with its traceback)."""

    def __init__(self, page, server: LabServer, name: str = "browser-test.ipynb", shots: Path | None = None):
        self.page = page
        self.server = server
        self.shots = shots
        path = server.root_dir / name
        path.write_text(json.dumps({
            "cells": [{"cell_type": "code", "execution_count": None, "id": "c0", "metadata": {}, "outputs": [],
                       "source": ""}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4, "nbformat_minor": 5}))
        page.evaluate("async (p) => { await window.jupyterapp.commands.execute('docmanager:open', {path: p}); }", name)
        page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget; return w && w.sessionContext &&"
            " w.sessionContext.session && w.sessionContext.session.kernel &&"
            " w.sessionContext.session.kernel.status === 'idle'; }", timeout=120_000)
        self.cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def run(self, code: str, timeout: float = 120, index: int | None = None) -> Cell:
        self.page.set_default_timeout(timeout * 1000)
        try:
            i, outputs = self.page.evaluate(_RUN_CELL_JS, [code, index])
        finally:
            self.page.set_default_timeout(UI_TIMEOUT_MS)
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if errors:
            tb = "\n".join(ANSI.sub("", line) for o in errors for line in o.get("traceback", []))
            raise CellError(f"cell {i} raised:\n{code}\n---\n{tb}")
        return Cell(i, self.cells.nth(i), outputs)

    def screenshot(self, cell: Cell, name: str, locator: Any = None) -> Path:
        """A PNG of the cell's output (or of `locator`), scrolled into view; returns its path."""
        target = locator if locator is not None else cell.output
        target.scroll_into_view_if_needed()
        path = (self.shots or self.server.root_dir) / f"{name}.png"
        target.screenshot(path=str(path))
        return path


def wait_until(cond: Callable[[], Any], timeout: float = 60, poll: float = 0.25, what: str = "condition",
               until: Callable[[Any], bool] = bool) -> Any:
    """Poll `cond` until `until(value)` holds, and return that value; or fail naming `what` and the last value."""
    deadline = time.time() + timeout
    while True:
        v = cond()
        if until(v):
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {v!r}"[:4000])
        time.sleep(poll)


# --- fixtures ----------------------------------------------------------------------------------------------------

@pytest.fixture
def lab(ws, tmp_path) -> Iterator[LabServer]:
    """A started JupyterLab whose kernels see the test's workspace (`ws`); stopped after the test."""
    require_chromium()
    with jupyter_lab(tmp_path) as server:
        server.wait_ready()
        yield server


@pytest.fixture
def page(lab):
    """A Chromium page (1500 × 1000) with JupyterLab loaded."""
    with chromium_page() as p:
        open_lab(p, lab)
        yield p


@pytest.fixture
def notebook(page, lab, tmp_path, request) -> Iterator[Notebook]:
    """A new notebook open in JupyterLab, its kernel idle; screenshots go to `artifacts_dir`, and the whole page
    is kept as `last-page.png` when the test ends (what it showed when a check failed)."""
    nb = Notebook(page, lab, shots=artifacts_dir(tmp_path, request.node.name))
    yield nb
    with contextlib.suppress(Exception):
        page.screenshot(path=str(nb.shots / "last-page.png"), full_page=True)
