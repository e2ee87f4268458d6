"""The MLflow UI inside JupyterLab: `mlflow server` on the workspace's store, started on first use, proxied behind
Jupyter's authentication at `<base_url>jupyter-ft/mlflow/`.

    GET  <base_url>jupyter-ft/api/mlflow        {"state": stopped|starting|running|failed|external, "url", ...}
    POST <base_url>jupyter-ft/api/mlflow        start it (if needed) and answer once it listens
    ANY  <base_url>jupyter-ft/mlflow/...        the UI, its static files and its ajax API

The server runs with `--static-prefix` set to the proxied path, so every URL the UI builds (relative or absolute)
already carries the prefix and is forwarded verbatim: nothing is rewritten. It listens on 127.0.0.1 only, on a
free port, with one worker; it is stopped with the Jupyter server (`stop_extension`). A small tornado proxy rather
than jupyter-server-proxy: one fixed target started from the workspace's settings, no new dependency, and no
open `/proxy/<port>` route to every local port.

Jupyter's XSRF check is kept for requests from other origins; the UI's own ajax calls (same origin, which the
browser states in `Origin`/`Referer`) pass without Jupyter's XSRF token, which MLflow's UI does not know.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import tornado.web
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httputil import HTTPHeaders

from jupyter_ft.core.workspace import Workspace
from jupyter_ft.core.procs import free_port

from jupyter_ft.server.errors import ClientError
from jupyter_ft.server.handlers import BaseHandler

UI_PATH = "jupyter-ft/mlflow"
START_TIMEOUT_S = 300.0  # a cold start imports MLflow and migrates an empty store: ~10 s idle, minutes on a busy box
HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
               "transfer-encoding", "upgrade", "content-length", "host"}
# Jupyter's credentials stay with Jupyter; MLflow never sees them
PRIVATE_HEADERS = {"cookie", "authorization", "x-xsrftoken", "x-csrftoken", "origin", "referer"}


class MLflowUI:
    """One `mlflow server` process for this Jupyter server's workspace, started once, on demand."""

    def __init__(self, ws: Workspace, base_url: str):
        self.ws = ws
        self.prefix = "/" + url_path_join(base_url, UI_PATH).strip("/")  # as the browser sends it (URL-encoded)
        self.tracking_uri = ws.tracking_uri
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.error: str | None = None
        self.started_at: float | None = None
        self._starting: asyncio.Task | None = None

    @property
    def external(self) -> str | None:
        """An http(s) tracking server is its own UI: the address to open instead of starting one."""
        return self.tracking_uri if self.tracking_uri.startswith(("http://", "https://")) else None

    @property
    def log_path(self) -> Path:
        return self.ws.root / "mlflow-ui.log"

    @property
    def state(self) -> str:
        if self.external:
            return "external"
        if self.proc is not None and self.proc.poll() is not None:
            return "failed"
        if self._starting is not None and not self._starting.done():
            return "starting"
        if self.proc is not None and self.port:
            return "running"
        return "failed" if self.error else "stopped"

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "url": self.external or self.prefix + "/", "port": self.port,
                "pid": self.proc.pid if self.proc is not None and self.proc.poll() is None else None,
                "tracking_uri": self.tracking_uri, "error": self.error, "started_at": self.started_at}

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.tracking_uri,
                "--default-artifact-root", self.ws.artifact_root.as_uri(), "--no-serve-artifacts",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--static-prefix", unquote(self.prefix)]

    async def ensure(self) -> int:
        """The port of a listening server, starting one first if needed (concurrent callers share one start)."""
        if self.external:
            raise ClientError("mlflow", f"the tracking store is a server of its own: open {self.external}", status=409)
        if self.state == "running":
            return self.port  # type: ignore[return-value]
        if self.state == "failed":
            self.stop()
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)
        if self.error or not self.port:
            raise ClientError("mlflow", self.error or "the MLflow UI did not start", status=503)
        return self.port

    async def _start(self) -> None:
        self.error, self.port = None, None
        port = free_port()
        self.ws.artifact_root.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(self.command(port), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=self.ws.root, start_new_session=True,
                                         env={**os.environ, "MLFLOW_TRACKING_URI": self.tracking_uri,
                                              # the UI only: no GenAI job runner (its consumer processes) beside it
                                              "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
        finally:
            log.close()
        self.started_at = time.time()
        client = AsyncHTTPClient()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.error = f"mlflow server exited with status {self.proc.returncode}: {self._log_tail()}"
                return
            try:
                r = await client.fetch(f"http://127.0.0.1:{port}{self.prefix}/health", raise_error=False,
                                       request_timeout=5)
                if r.code == 200:
                    self.port = port
                    return
            except OSError:
                pass
            await asyncio.sleep(0.5)
        self.error = f"mlflow server did not answer within {START_TIMEOUT_S:g} s"
        self.stop()

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])[-800:]

    def stop(self) -> None:
        """Stop the server and its worker (its whole process group)."""
        proc, self.proc, self.port = self.proc, None, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # the uvicorn worker is in the same group; make sure nothing of it is left
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def ui_of(handler: tornado.web.RequestHandler) -> MLflowUI:
    ui = handler.settings.get("jupyter_ft_mlflow_ui")
    if ui is None:
        ui = handler.settings["jupyter_ft_mlflow_ui"] = MLflowUI(handler.settings["jupyter_ft_workspace"],
                                                                 handler.base_url)
    return ui


class MLflowStatusHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        self.reply(ui_of(self).status())

    @tornado.web.authenticated
    async def post(self) -> None:
        self.json_body()  # takes no fields, but a malformed body is still the client's mistake (400)
        ui = ui_of(self)
        if not ui.external:
            await ui.ensure()
        self.reply(ui.status())


STARTING_PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="1">
<title>Starting MLflow…</title></head><body style="font-family: sans-serif; padding: 2em">
<p>Starting the MLflow UI on this workspace's tracking store (the first start takes a few seconds)…</p>
<p>This page reloads itself.</p></body></html>"""


class MLflowProxyHandler(JupyterHandler):
    """Forwards `<base_url>jupyter-ft/mlflow/...` to the MLflow server, streaming the answer back."""

    def check_xsrf_cookie(self) -> None:
        if self._same_origin():
            return  # the MLflow UI's own ajax call
        super().check_xsrf_cookie()

    def _same_origin(self) -> bool:
        source = self.request.headers.get("Origin") or self.request.headers.get("Referer")
        if not source:
            return False
        return urlparse(source).netloc == self.request.host

    @tornado.web.authenticated
    async def proxy(self, path: str = "") -> None:
        ui = ui_of(self)
        if ui.external:
            self.redirect(ui.external)
            return
        if ui.state != "running" and "text/html" in self.request.headers.get("Accept", ""):
            ui_start = asyncio.ensure_future(ui.ensure())  # a browser gets a page that says so while it starts
            ui_start.add_done_callback(lambda t: t.exception())
            await asyncio.sleep(0.2)
            if ui.state != "running":
                if ui.error:
                    raise ClientError("mlflow", ui.error, status=503)
                self.set_status(503)
                self.set_header("Retry-After", "1")
                self.set_header("Content-Type", "text/html; charset=utf-8")
                self.finish(STARTING_PAGE)
                return
        try:
            port = await ui.ensure()
        except ClientError as exc:
            self.set_status(exc.status)
            self.finish({"message": str(exc)})
            return
        headers = HTTPHeaders()
        for k, v in self.request.headers.get_all():
            if k.lower() not in HOP_HEADERS | PRIVATE_HEADERS:
                headers.add(k, v)
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH", "DELETE") else None
        if self.request.method in ("POST", "PUT", "PATCH") and body is None:
            body = b""
        self._headers_sent = False
        req = HTTPRequest(f"http://127.0.0.1:{port}{self.request.uri}", method=self.request.method, headers=headers,
                          body=body, allow_nonstandard_methods=True, follow_redirects=False,
                          decompress_response=False, request_timeout=600, header_callback=self._on_header,
                          streaming_callback=self._on_chunk)
        try:
            resp = await AsyncHTTPClient().fetch(req, raise_error=False)
        except OSError as exc:
            raise ClientError("mlflow", f"the MLflow UI did not answer: {exc}", status=502) from None
        if not self._headers_sent:
            self.set_status(resp.code if resp.code >= 100 else 502)
        self.finish()

    def _on_header(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if line.startswith("HTTP/"):
            parts = line.split(" ", 2)
            self.set_status(int(parts[1]), parts[2] if len(parts) > 2 else None)
            self.clear_header("Content-Type")
            return
        if not line or ":" not in line:
            return
        k, v = line.split(":", 1)
        if k.strip().lower() in HOP_HEADERS | {"server", "date"}:
            return
        self.add_header(k.strip(), v.strip())

    def _on_chunk(self, chunk: bytes) -> None:
        self._headers_sent = True
        self.write(chunk)
        self.flush()

    get = post = put = patch = delete = head = proxy


def routes(prefix: str) -> list[tuple[str, type]]:
    """`prefix` is the API's (jupyter-ft/api); the UI itself is proxied beside it, at jupyter-ft/mlflow/."""
    return [
        (rf"{prefix}/mlflow/?", MLflowStatusHandler),
        (rf"{UI_PATH}/(?P<path>.*)", MLflowProxyHandler),
    ]


def stop(settings: dict[str, Any]) -> None:
    ui = settings.get("jupyter_ft_mlflow_ui")
    if ui is not None:
        ui.stop()


# --- OpenAPI docs ----------------------------------------------------------------------------------------------------

from jupyter_ft.server.openapi import NULLABLE_NUMBER, NULLABLE_STRING, STRING, doc, example, obj  # noqa: E402

STATUS = obj(["state", "url"], state={"enum": ["stopped", "starting", "running", "failed", "external"]},
             url={**STRING, "description": "where to open the UI (the proxied path, or an external server)"},
             port={"type": ["integer", "null"]}, pid={"type": ["integer", "null"]}, tracking_uri=STRING, error=NULLABLE_STRING,
             started_at=NULLABLE_NUMBER)
_PROXY = ("mlflow",)

DOCS = [
    doc("GET", "mlflow", "The MLflow UI's state (it starts on first use)", response=STATUS, errors=(),
        tags=_PROXY, examples=[example()]),
    doc("POST", "mlflow", "Start the MLflow UI on the workspace's store and answer once it listens", response=STATUS,
        errors=(409, 503), tags=_PROXY),
] + [
    doc(m, "/jupyter-ft/mlflow/{path}", "The MLflow UI, its static files and its ajax API, proxied behind "
        "Jupyter's authentication (started on demand; a browser sees a self-reloading page while it starts)",
        response={}, response_type="*/*", errors=(502, 503), tags=_PROXY)
    for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
]
