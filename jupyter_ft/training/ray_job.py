"""The driver of a Ray job: `python -m jupyter_ft.training.ray_job --root ROOT JOB_ID`, started by the scheduler's
`ray` executor on this machine.

It connects to the cluster, runs the job's training entry point as a Ray Train `TorchTrainer` (one worker per
`compute.processes`, CPUs or GPUs, gloo/nccl), and mirrors into the workspace what the workers send: progress,
metrics and events (forwarded to MLflow by the scheduler, as for a local job), the worker pids, and each restart
of the worker group. A dead worker makes Ray restart the group from the last reported checkpoint, at most
`executor.max_failures` times (default: the attempts the job has left); each restart is a new attempt of the job,
in its record, its log and its chart. SIGTERM (cancel) stops the run on the cluster.
"""

from __future__ import annotations

import _thread
import dataclasses
import json
import os
import secrets
import sys
import threading
import time
import traceback

from jupyter_ft.core import procs
from jupyter_ft.core.train import compute
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.spec.train import TrainSpec
from jupyter_ft.core.workspace import Workspace

from jupyter_ft.training import data as data_mod
from jupyter_ft.training import loading
from jupyter_ft.training.errors import JobCancelled, JobInputError

WORKERS_FILE = "ray_workers.json"


class Mirror(threading.Thread):
    """Drains the workers' queue into the workspace."""

    def __init__(self, ws: Workspace, job: jobstore.JobRecord, sink, max_attempts: int):
        super().__init__(name="jupyter_ft-ray-mirror", daemon=True)
        self.ws, self.job, self.sink = ws, job, sink
        self.attempt = job.attempt
        self.max_attempts = max_attempts
        self.starts: dict[int, int] = {}
        self.workers: dict[int, dict] = {}
        self.failed: str | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.drain()
            self.stop.wait(0.5)
        self.drain()

    def drain(self) -> None:
        try:
            items = self.sink.get_nowait_batch(self.sink.qsize()) if self.sink.qsize() else []
        except Exception:  # the queue actor is gone (shutdown): nothing more will come
            return
        for item in items:
            try:
                self.apply(*item)
            except Exception:
                traceback.print_exc()

    def apply(self, what: str, *rest) -> None:
        ws, job_id = self.ws, self.job.id
        if what == "fields":
            jobstore.set_fields(ws, job_id, **rest[0])
        elif what == "event":
            kind, payload, step = rest
            jobstore.append_event(ws, job_id, kind, payload, step=step)
        elif what == "start":
            rank, pid, host = rest
            # each restart of the worker group starts every rank again: the n-th start of any rank is attempt n
            self.starts[rank] = self.starts.get(rank, 0) + 1
            attempt = self.job.attempt + self.starts[rank] - 1
            if attempt > self.attempt:  # Ray restarted the worker group: one more attempt of this job
                self.attempt = attempt
                jobstore.set_fields(ws, job_id, attempt=attempt, error=None)
                print(f"\n[jupyter_ft] a Ray worker died; Ray restarted the worker group: attempt "
                      f"{attempt}/{self.max_attempts} resumes from the last checkpoint", flush=True)
                jobstore.append_event(ws, job_id, "tag", {"jupyter_ft.ray_restarts": attempt - self.job.attempt})
            self.workers[rank] = {"pid": pid, "host": host, "attempt": attempt}
            (ws.job_dir(job_id) / WORKERS_FILE).write_text(json.dumps(self.workers, sort_keys=True))
            print(f"[jupyter_ft] ray worker rank {rank}: pid {pid} on {host} (attempt {attempt})", flush=True)
        elif what == "fail":
            self.failed = rest[0]
            jobstore.finish(ws, job_id, "failed", rest[0])
            print(f"[jupyter_ft] FAILED: {rest[0]}", flush=True)
            _thread.interrupt_main()  # a deterministic input error: do not let Ray retry it


def _on_sigterm(signum, frame):
    raise JobCancelled()


def _check_resources(ray, n: int, cpus: float, gpus: int) -> None:
    have = ray.cluster_resources()
    if gpus and have.get("GPU", 0) < n * gpus:
        raise JobInputError(f"compute.processes: {n} Ray workers × {gpus} GPU asked for, but the cluster has "
                            f"{int(have.get('GPU', 0))} GPU(s); ask for fewer or add GPU nodes")
    if have.get("CPU", 0) < n * cpus:
        raise JobInputError(f"compute.processes: {n} Ray workers × {cpus:g} CPU asked for, but the cluster has "
                            f"{have.get('CPU', 0):g} CPU(s); lower compute.processes or executor.cpus_per_worker")


def run(ws: Workspace, job: jobstore.JobRecord) -> None:
    spec = TrainSpec.model_validate(job.spec)
    loading.preflight(spec)          # fail fast here, before any cluster work
    data_mod.preflight(spec, ws)
    ex = spec.executor
    address = compute.cluster_address(ex)
    remote = compute.is_remote(address)
    why_not = compute.reachable(address)
    if why_not:
        raise ConnectionError(f"cannot reach the Ray cluster at {address} ({why_not})")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    t0 = time.time()
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from ray.util.queue import Queue

    from jupyter_ft.training.ray_worker import train_loop_per_worker

    env = {k: v for k, v in os.environ.items() if k.startswith(("HF_", "TRANSFORMERS_", "JUPYTER_FT_"))}
    env.update(TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    ray.init(address=address, log_to_driver=True, runtime_env={"env_vars": env})
    n = compute.processes(spec)
    use_gpu = spec.device.startswith("cuda")
    _check_resources(ray, n, ex.cpus_per_worker, 1 if use_gpu else 0)
    print(f"[jupyter_ft] connected to Ray at {address} in {time.time() - t0:.1f} s: {n} worker(s) × "
          f"{'1 GPU' if use_gpu else f'{ex.cpus_per_worker:g} CPU'}", flush=True)
    sink = Queue(actor_options={"num_cpus": 0})
    max_failures = ex.max_failures if ex.max_failures is not None else max(0, job.max_attempts - job.attempt)
    mirror = Mirror(ws, job, sink, job.attempt + max_failures)
    mirror.start()
    storage = ex.storage_path or str(ws.job_dir(job.id) / "ray")
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={
            "root": str(ws.root), "job": dataclasses.asdict(job), "sink": sink, "remote": remote,
            "token": secrets.token_hex(3), "output_dir": str(ws.job_dir(job.id) / "output"),
        },
        scaling_config=ScalingConfig(num_workers=n, use_gpu=use_gpu,
                                     resources_per_worker={"GPU": 1} if use_gpu else {"CPU": ex.cpus_per_worker}),
        run_config=RunConfig(name=job.id, storage_path=storage, failure_config=FailureConfig(max_failures=max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=2)),
    )
    jobstore.append_event(ws, job.id, "tag", {"jupyter_ft.executor": f"ray {address}", "jupyter_ft.ray_storage": storage})
    try:
        result = trainer.fit()
    except KeyboardInterrupt:
        if mirror.failed:
            raise JobInputError(mirror.failed) from None
        raise
    finally:
        mirror.stop.set()
        mirror.join(timeout=10)
    if result.error:
        raise RuntimeError(f"Ray Train run failed: {result.error}")
    print(f"[jupyter_ft] Ray run finished: last checkpoint {result.checkpoint.path if result.checkpoint else None}",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    ws, job = procs.open_job_process("python -m jupyter_ft.training.ray_job", argv, _on_sigterm)
    jobstore.set_fields(ws, job.id, pid=os.getpid(), pid_started=procs.create_time(os.getpid()))
    print(f"\n=== jupyter_ft job {job.id} on Ray · attempt {job.attempt}/{job.max_attempts} · driver pid {os.getpid()} · "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')} ===", flush=True)
    rc = 0
    try:
        if job.cancel_requested:
            raise JobCancelled()
        run(ws, job)
        jobstore.finish(ws, job.id, "succeeded")
        print("[jupyter_ft] succeeded", flush=True)
    except JobCancelled:
        print("[jupyter_ft] cancelled: stopping the run on the cluster", flush=True)
        jobstore.finish(ws, job.id, "cancelled", "cancelled by request")
    except JobInputError as exc:
        print(f"[jupyter_ft] FAILED: {exc}", flush=True)
        jobstore.finish(ws, job.id, "failed", str(exc))
        rc = 2
    except ConnectionError as exc:  # the cluster went away: worth another attempt
        print(f"[jupyter_ft] {exc}", flush=True)
        if job.attempt < job.max_attempts:
            jobstore.requeue(ws, job.id, f"attempt {job.attempt}: {exc}; retrying")
        else:
            jobstore.finish(ws, job.id, "failed", str(exc))
        rc = 3
    except Exception as exc:
        traceback.print_exc()
        jobstore.finish(ws, job.id, "failed", f"{type(exc).__name__}: {str(exc)[:2000]}")
        rc = 1
    finally:
        if "ray" in sys.modules:
            import ray

            ray.shutdown()  # the run's actors (controller, workers, queue) belong to this driver: they stop with it
    return rc


if __name__ == "__main__":
    sys.exit(main())
