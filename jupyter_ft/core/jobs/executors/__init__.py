"""Executors behind the scheduler's `Executor` seam: where a claimed job's processes run.

`local` jobs are processes on this machine (one, or several under `accelerate launch`); `ray` jobs are a driver
process on this machine that runs the job on a Ray cluster as a Ray Train `TorchTrainer`. Both hand the scheduler
a local process it can poll and signal, so reaping, retries and cancel work the same for every executor.
"""

from __future__ import annotations

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.executors.local import Executor, LocalProcessExecutor, RunningJob
from jupyter_ft.core.jobs.executors.ray import RayExecutor
from jupyter_ft.core.workspace import Workspace

__all__ = ["Executor", "LocalProcessExecutor", "RayExecutor", "RunningJob", "SpecRoutedExecutor", "default_executor"]


class SpecRoutedExecutor:
    """Starts each job with the executor its spec names (`executor.kind`)."""

    def __init__(self):
        self.by_kind = {"local": LocalProcessExecutor(), "ray": RayExecutor()}

    def start(self, ws: Workspace, job: jobstore.JobRecord):
        kind = (job.spec.get("executor") or {}).get("kind", "local")
        return self.by_kind[kind].start(ws, job)


def default_executor() -> SpecRoutedExecutor:
    return SpecRoutedExecutor()
