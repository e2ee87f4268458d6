"""The job process: `python -m jupyter_ft.training --root ROOT JOB_ID`.

Started by the scheduler, never by a face. It records its pid, fails fast on bad input (before the heavy
imports), loads data and model, builds the technique's trainer (its unit's `build_trainer`, from the registry),
resumes from the newest complete checkpoint, trains, saves the adapter/model, and records its own outcome. If it is killed (SIGKILL, OOM) it records nothing
and the scheduler retries it; SIGTERM means cancel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

from jupyter_ft import techniques
from jupyter_ft.core import jobstore, procs
from jupyter_ft.core.specs import TrainSpec
from jupyter_ft.core.workspace import Workspace

from . import data as data_mod
from . import loading
from .errors import JobCancelled, JobInputError, TrainingDiverged

# Python exceptions worth another attempt (the rest are deterministic: retrying would fail the same way).
TRANSIENT = (ConnectionError, TimeoutError)


def _on_sigterm(signum, frame):
    raise JobCancelled()


def last_complete_checkpoint(folder: Path) -> Path | None:
    """Newest `checkpoint-N` whose trainer state was written (it is written last); half-written ones are removed."""
    if not folder.is_dir():
        return None
    ckpts = sorted(
        (p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
    )
    for p in reversed(ckpts):
        if (p / "trainer_state.json").is_file():
            return p
        shutil.rmtree(p, ignore_errors=True)
    return None


def run(ws: Workspace, job: jobstore.JobRecord) -> None:
    technique = techniques.find(job.spec.get("technique", "sft"))
    if technique is None:  # registered where it was submitted, not in this process's environment
        raise JobInputError(f"technique: {job.spec.get('technique')!r} is not installed where the job runs "
                            f"(installed: {', '.join(techniques.names())})")
    spec = TrainSpec.model_validate(job.spec)
    job_dir = ws.job_dir(job.id)
    loading.preflight(spec)
    data_mod.preflight(spec, ws)

    from .callbacks import CheckpointTimer, JobReporter, NonFiniteGuard, first_non_finite
    from .context import TrainContext, common_args, estimate_total_steps

    data = data_mod.load(spec, ws)
    print(f"[jupyter_ft] dataset {data.name}: {data.profile} digest {data.digest}", flush=True)
    jobstore.append_event(ws, job.id, "input", data.mlflow_input())
    tokenizer = loading.load_tokenizer(spec)
    model = loading.load_model(spec)
    total = estimate_total_steps(spec, len(data.train))
    ctx = TrainContext(
        spec=spec, job_dir=job_dir, tokenizer=tokenizer, model=model, data=data,
        peft_config=loading.lora_config(spec),
        args=common_args(spec, job_dir, total, data.eval is not None),
    )
    # A NaN/inf step loss must reach the log (and `NonFiniteGuard`), not be averaged away by the trainer.
    ctx.args["logging_nan_inf_filter"] = False
    trainer = technique.build_trainer(ctx)
    if ctx.notes:
        jobstore.append_event(ws, job.id, "tag", {f"jupyter_ft.{k}": v for k, v in ctx.notes.items()})
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the reporter prints one line per logging step instead
    trainer.add_callback(JobReporter(ws, job.id))
    if not spec.checkpoint_every:
        trainer.add_callback(CheckpointTimer(spec.checkpoint_minutes * 60))
    trainer.add_callback(NonFiniteGuard(trainer.model))  # last: it sees whether this step will checkpoint
    resume = last_complete_checkpoint(Path(ctx.args["output_dir"]))
    if resume:
        print(f"[jupyter_ft] resuming from {resume.name}", flush=True)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if bad := first_non_finite(trainer.model):  # diverged after the last logged step: never a finished model
        raise TrainingDiverged(trainer.state.global_step, f"weights ({bad})", float("nan"))

    out = Path(spec.output_dir).expanduser() if spec.output_dir else job_dir / "output"
    out.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    print(f"[jupyter_ft] saved {'adapter' if spec.lora else 'model'} to {out}", flush=True)
    jobstore.append_event(ws, job.id, "artifact", {"path": str(out), "artifact_path": "adapter" if spec.lora else "model"})
    jobstore.append_event(ws, job.id, "tag", {"jupyter_ft.output_dir": str(out)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jupyter_ft.training")
    ap.add_argument("--root", required=True)
    ap.add_argument("job_id")
    a = ap.parse_args(argv)
    ws = Workspace(Path(a.root))
    signal.signal(signal.SIGTERM, _on_sigterm)
    job = jobstore.get(ws, a.job_id)
    jobstore.set_fields(ws, job.id, pid=os.getpid(), pid_started=procs.create_time(os.getpid()))
    print(f"\n=== jupyter_ft job {job.id} · attempt {job.attempt}/{job.max_attempts} · pid {os.getpid()} · "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')} ===", flush=True)
    try:
        if job.cancel_requested:
            raise JobCancelled()
        run(ws, job)
    except JobCancelled:
        print("[jupyter_ft] cancelled", flush=True)
        jobstore.finish(ws, job.id, "cancelled", "cancelled by request")
        return 0
    except JobInputError as exc:
        print(f"[jupyter_ft] FAILED: {exc}", flush=True)
        jobstore.finish(ws, job.id, "failed", str(exc))
        return 2
    except TRANSIENT as exc:
        traceback.print_exc()
        if job.attempt < job.max_attempts:
            jobstore.requeue(ws, job.id, f"attempt {job.attempt}: {type(exc).__name__}: {exc}; retrying")
            return 3
        jobstore.finish(ws, job.id, "failed", f"{type(exc).__name__}: {exc}")
        return 3
    except Exception as exc:
        traceback.print_exc()
        jobstore.finish(ws, job.id, "failed", f"{type(exc).__name__}: {exc}")
        return 1
    jobstore.finish(ws, job.id, "succeeded")
    print("[jupyter_ft] succeeded", flush=True)
    return 0
