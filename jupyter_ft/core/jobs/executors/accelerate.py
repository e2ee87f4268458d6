"""The command line of a local job: `python -m jupyter_ft.training …`, or the same under `accelerate launch` with
the config generated from the spec's `compute` block and stored with the job (`jobs/<id>/accelerate.yaml`)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from jupyter_ft.core.train import compute
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.procs import free_port
from jupyter_ft.core.spec.train import TrainSpec
from jupyter_ft.core.workspace import Workspace

CONFIG_NAME = "accelerate.yaml"


def write_config(spec: TrainSpec, job_dir: Path) -> Path:
    """Write the job's accelerate config (a fresh rendezvous port per attempt, so a retry never meets the dead
    attempt's port still in TIME_WAIT)."""
    path = job_dir / CONFIG_NAME
    path.write_text(yaml.safe_dump(compute.accelerate_config(spec, port=free_port()), sort_keys=False))
    return path


def job_argv(ws: Workspace, job: jobstore.JobRecord) -> list[str]:
    spec = TrainSpec.model_validate(job.spec)
    entry = ["-m", "jupyter_ft.training", "--root", str(ws.root), job.id]
    if compute.processes(spec) <= 1:
        return [sys.executable, *entry]
    config = write_config(spec, ws.job_dir(job.id))
    # torch elastic restarts are off: a dead rank ends the launch and the scheduler's retry resumes the job from its
    # checkpoint, the same path as a one-process job.
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "--max_restarts", "0",
            *entry]
