"""The registry on a real `mlflow server` process on loopback: the server goes down while a job trains; the job still
succeeds, its registration waits as `pending`, and it is registered by the forwarder once the server is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import jupyter_ft as ft
from jupyter_ft.core.registry import versions as registry
from jupyter_ft.core.datasets import demo_data
from jupyter_ft.core.procs import free_port

from .conftest import write_jsonl


class MlflowServer:
    """`mlflow server` on 127.0.0.1 with a SQLite backend and proxied artifacts in `folder`; restartable."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120) -> None:
        mlflow = Path(sys.executable).with_name("mlflow")
        log = open(self.folder / "server.log", "ab")
        self.proc = subprocess.Popen(
            [str(mlflow), "server", "--backend-store-uri", f"sqlite:///{self.folder / 'remote.db'}",
             "--artifacts-destination", str(self.folder / "artifacts"), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, cwd=self.folder)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        from mlflow.tracking import MlflowClient

                        MlflowClient(self.url).search_experiments(max_results=1)  # its store is ready
                        return
            except OSError:
                pass
            assert self.proc.poll() is None, (self.folder / "server.log").read_text()[-2000:]
            time.sleep(0.3)
        raise AssertionError("mlflow server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None


@pytest.fixture
def server(tmp_path, monkeypatch):
    # a client that fails fast instead of MLflow's minutes of retries, and a forwarder that retries every 2 s
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")  # a loaded machine answers slowly; a dead server at once
    monkeypatch.setenv("JUPYTER_FT_RETRY_MAX_S", "2")
    s = MlflowServer(tmp_path)
    s.start()
    yield s
    s.stop()


@pytest.mark.slow
def test_server_down_job_succeeds_registration_pending_then_registered(ws, tiny_model, tmp_path, server):
    data = write_jsonl(tmp_path / "prefs.jsonl", demo_data.preference_rows(40))
    job = ft.train(model=str(tiny_model), dataset=str(data), technique="dpo", lora=True, max_steps=2,
                   logging_steps=1, max_length=96, batch_size=8, grad_accum=1, eval_fraction=0.0,
                   tracking={"tracking_uri": server.url})
    assert job.run_id and job.record.tracking_uri == server.url  # the run exists on the server
    server.stop()  # the registry goes away while the job trains
    job.wait(timeout=400)
    assert job.status == "succeeded", job.logs(tail=30)  # never failed nor blocked by the registry
    reg = job.registration
    assert reg["state"] == "pending" and reg["model"] is None, reg
    time.sleep(3)
    assert job.registration["state"] == "pending"

    server.start()  # back up: the forwarder's retries go through
    deadline = time.time() + 180
    while job.registration["state"] == "pending" and time.time() < deadline:
        time.sleep(0.5)
    assert job.registration == {"state": "registered", "model": "tiny-llama-dpo@1", "error": None}

    from mlflow.tracking import MlflowClient

    c = MlflowClient(server.url)
    mv = c.get_model_version("tiny-llama-dpo", "1")
    assert mv.tags["jupyter_ft.job_id"] == job.id and mv.run_id == job.run_id
    assert mv.tags["jupyter_ft.dataset"] == job.spec.dataset
    deadline = time.time() + 60  # the rest of the job's events go through too (its end follows the registration)
    while ws.conn.execute("SELECT COUNT(*) FROM events WHERE job_id = ? AND forwarded = 0",
                          (job.id,)).fetchone()[0] and time.time() < deadline:
        time.sleep(0.3)
    assert c.get_run(job.run_id).info.status == "FINISHED"

    # a machine without the job's output folder gets the weights from the server's artifact store
    with ws.write() as conn:
        conn.execute("UPDATE model_versions SET path = ? WHERE job_id = ?", (str(tmp_path / "gone"), job.id))
    got = registry.resolve(ws, "tiny-llama-dpo@1")
    assert Path(got.path) == ws.root / "models" / "tiny-llama-dpo" / "1"
    assert (Path(got.path) / "adapter_config.json").is_file() and (Path(got.path) / "adapter_model.safetensors").is_file()
