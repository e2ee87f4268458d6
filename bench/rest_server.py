"""A real `jupyter server` with the jupyter_ft extension, for the REST benchmarks: started on a free loopback port
with a token and its own workspace, from a chosen source tree (this one, or a baseline such as /work/main), and
stopped (its whole process tree) at the end."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psutil

from jupyter_ft.core.procs import free_port


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, token: str):
        self.proc, self.port, self.token = proc, port, token
        self.api = f"http://127.0.0.1:{port}/jupyter-ft/api/"

    def request(self, path: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.api + path, data=body, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=600) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def rss(self) -> int:
        """Resident memory of the server and every process under it, in bytes."""
        try:
            procs = [psutil.Process(self.proc.pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total


@contextmanager
def jupyter_server(source: Path, root: Path, *extra: str):
    """Yield a running `Server` whose `jupyter_ft` is imported from `source` (the extension is enabled by the
    package's installed server config); stop its process group after."""
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": str(source), "JUPYTER_FT_HOME": str(root), "JUPYTER_FT_SCHEDULER_IDLE": "5"}
    log = (root.parent / f"server-{port}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", f"--port={port}", "--ip=127.0.0.1", "--no-browser", "--allow-root",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root.parent}", *extra],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(proc, port, token)
    try:
        deadline = time.time() + 120
        while True:
            try:
                if server.request("jobs")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"jupyter server did not start; see {log.name}")
            time.sleep(0.3)
        yield server
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        log.close()
