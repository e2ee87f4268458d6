"""What each Ray Train worker runs: the job's one training entry point (`runner.build`), with Ray's checkpointing.

Workers never touch the workspace database: rank 0 sends progress, metrics and events to the driver through a
Ray queue (so a remote cluster needs no access to this machine), and every rank reports checkpoints to Ray Train
(`RayTrainReportCallback`, copied into the run's storage path). When Ray restarts a dead worker group, each
worker resumes from `ray.train.get_checkpoint()`, the last checkpoint reported.
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

PROGRESS_EVERY_S = 1.0


class QueueReporter(TrainerCallback):
    """Rank 0's reporter: what `callbacks.JobReporter` writes to the workspace, sent to the driver instead."""

    def __init__(self, send):
        self.send = send
        self._last = 0.0
        self.first = True

    def on_train_begin(self, args, state, control, **kw):
        self.send("fields", {"total_steps": state.max_steps, "step": state.global_step, "progress_at": time.time()})
        print(f"[jupyter_ft] training: {state.max_steps} steps, starting at step {state.global_step}", flush=True)

    def on_step_end(self, args, state, control, **kw):
        now = time.time()
        if self.first:
            self.first = False
            self.send("event", "tag", {"jupyter_ft.first_step_at": now}, state.global_step)
        if now - self._last >= PROGRESS_EVERY_S or state.global_step >= state.max_steps:
            self._last = now
            self.send("fields", {"step": state.global_step, "progress_at": now})

    def on_log(self, args, state, control, logs=None, **kw):
        values = {k: float(v) for k, v in (logs or {}).items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
        if values:
            self.send("event", "metrics", {"values": values}, state.global_step)
            shown = " ".join(f"{k}={v:.4g}" for k, v in values.items())
            print(f"[jupyter_ft] step {state.global_step}/{state.max_steps} {shown}", flush=True)

    def on_save(self, args, state, control, **kw):
        print(f"[jupyter_ft] checkpoint saved at step {state.global_step}", flush=True)

    def on_train_end(self, args, state, control, **kw):
        self.send("fields", {"step": state.global_step, "progress_at": time.time()})


def train_loop_per_worker(config: dict[str, Any]) -> None:
    import ray.train
    from ray.train.huggingface.transformers import RayTrainReportCallback, prepare_trainer

    from jupyter_ft.core.jobs import store as jobstore
    from jupyter_ft.core.workspace import Workspace

    from jupyter_ft.training import runner
    from jupyter_ft.training.errors import JobInputError

    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    sink = config["sink"]

    def send(*item) -> None:
        sink.put(item)

    send("start", rank, os.getpid(), socket.gethostname())
    job = jobstore.JobRecord(**config["job"])
    ws = Workspace(Path(config["root"]))
    # HF checkpoints are written on the worker's node, then copied by Ray into the run's storage path.
    local = Path(tempfile.gettempdir()) / "jupyter_ft-ray" / f"{job.id}-{config['token']}"
    try:
        trainer, tokenizer, spec, ckpt_dir = runner.build(
            ws, job, lambda kind, payload: send("event", kind, payload, None), main_process=rank == 0,
            output_dir=local)
    except JobInputError as exc:
        send("fail", str(exc))
        raise
    if rank == 0:
        trainer.add_callback(QueueReporter(send))
    trainer.add_callback(RayTrainReportCallback())
    trainer = prepare_trainer(trainer)
    resume = None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            src = Path(d) / RayTrainReportCallback.CHECKPOINT_NAME
            step = json.loads((src / "trainer_state.json").read_text())["global_step"]
            resume = ckpt_dir / f"checkpoint-{step}"
            if not (resume / "trainer_state.json").is_file():
                import shutil

                shutil.copytree(src, resume, dirs_exist_ok=True)
        if rank == 0:
            print(f"[jupyter_ft] resuming from {resume.name} (Ray checkpoint {checkpoint.path})", flush=True)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    runner.check_finite(trainer)
    out = Path(spec.output_dir).expanduser() if spec.output_dir else Path(config["output_dir"])
    if config["remote"]:
        out = local / "output"
    record = (lambda kind, payload: None) if config["remote"] else (lambda kind, payload: send("event", kind, payload, None))
    runner.save_output(trainer, tokenizer, spec, out, record, rank == 0)
    if config["remote"] and rank == 0:
        _log_to_mlflow(job, out, spec)
        send("event", "tag", {"jupyter_ft.output_dir": f"mlflow artifacts of run {job.mlflow_run_id}"}, None)


def _log_to_mlflow(job, out: Path, spec) -> None:
    """On a remote cluster the adapter cannot be copied back through this machine's filesystem: the worker logs it
    to the configured MLflow server itself (the spec was refused at submission without one)."""
    from mlflow.tracking import MlflowClient

    MlflowClient(job.tracking_uri).log_artifacts(job.mlflow_run_id, str(out), "adapter" if spec.lora else "model")
