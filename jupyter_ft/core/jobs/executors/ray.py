"""The `ray` executor: a driver process on this machine runs the job on a Ray cluster as a Ray Train
`TorchTrainer` (`jupyter_ft.training.ray_job`).

The driver is the job's local process: the scheduler polls it, cancels it with SIGTERM (it then stops the run on
the cluster) and retries it if it dies, exactly as a local job; it mirrors the workers' progress, metrics and
restarts into the workspace, so every face shows a Ray job like a local one.
"""

from __future__ import annotations

import os
import subprocess
import sys

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.workspace import Workspace

# Ray must not advertise this machine's public address on a loopback cluster (ARCHITECTURE.md).
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_DEDUP_LOGS": "0"}


class RayExecutor:
    def start(self, ws: Workspace, job: jobstore.JobRecord) -> subprocess.Popen:
        job_dir = ws.job_dir(job.id)
        job_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", **RAY_ENV)
        with open(job_dir / "job.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "jupyter_ft.training.ray_job", "--root", str(ws.root), job.id],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, cwd=job_dir, env=env,
            )
