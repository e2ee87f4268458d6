"""The job process: `python -m jupyter_ft.training --root ROOT JOB_ID`.

Started by the scheduler, never by a face. It records its pid, fails fast on bad input (before the heavy
imports), loads data and model, builds the technique's trainer (its unit's `build_trainer`, from the registry),
resumes from the newest complete checkpoint, trains, saves the adapter/model, and records its own outcome. If it is killed (SIGKILL, OOM) it records nothing
and the scheduler retries it; SIGTERM means cancel.
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
from pathlib import Path

from jupyter_ft.core.train import techniques
from jupyter_ft.core import procs
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.spec.train import TrainSpec
from jupyter_ft.core.workspace import Workspace

from jupyter_ft.training import data as data_mod
from jupyter_ft.training import loading
from jupyter_ft.training.errors import JobCancelled, JobInputError, TrainingDiverged
from jupyter_ft.training.techniques import trainer_of

# Python exceptions worth another attempt (the rest are deterministic: retrying would fail the same way).
TRANSIENT = (ConnectionError, TimeoutError)


def _on_sigterm(signum, frame):
    raise JobCancelled()


def last_complete_checkpoint(folder: Path, clean: bool = True) -> Path | None:
    """Newest `checkpoint-N` whose trainer state was written (it is written last); half-written ones are removed
    (by one process only: `clean` is False on every rank but 0)."""
    if not folder.is_dir():
        return None
    ckpts = sorted(
        (p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
    )
    for p in reversed(ckpts):
        if (p / "trainer_state.json").is_file():
            return p
        if clean:
            shutil.rmtree(p, ignore_errors=True)
    return None


def build(ws: Workspace, job: jobstore.JobRecord, events, *, main_process: bool = True, output_dir: Path | None = None):
    """Data, model and the technique's trainer for a job: the one training entry point every executor runs (a local
    process, each rank under `accelerate launch`, each Ray Train worker). `events(kind, payload)` records a job
    event; only the main process reports. Returns (trainer, tokenizer, spec, checkpoints folder)."""
    technique = techniques.find(job.spec.get("technique", "sft"))
    if technique is None:  # registered where it was submitted, not in this process's environment
        raise JobInputError(f"technique: {job.spec.get('technique')!r} is not installed where the job runs "
                            f"(installed: {', '.join(techniques.names())})")
    spec = TrainSpec.model_validate(job.spec)
    job_dir = ws.job_dir(job.id)
    loading.preflight(spec)
    data_mod.preflight(spec, ws)

    from jupyter_ft.training.callbacks import NonFiniteGuard, ThroughputMeter
    from jupyter_ft.training.context import TrainContext, common_args, estimate_total_steps

    data = data_mod.load(spec, ws)
    if main_process:
        print(f"[jupyter_ft] dataset {data.name}: {data.profile} digest {data.digest}", flush=True)
        events("input", data.mlflow_input())
    tokenizer = loading.load_tokenizer(spec)
    model = loading.load_model(spec)
    total = estimate_total_steps(spec, len(data.train))
    args = common_args(spec, output_dir or job_dir, total, data.eval is not None)
    ctx = TrainContext(
        spec=spec, job_dir=job_dir, tokenizer=tokenizer, model=model, data=data,
        peft_config=loading.lora_config(spec), args=args,
    )
    # A NaN/inf step loss must reach the log (and `NonFiniteGuard`), not be averaged away by the trainer.
    ctx.args["logging_nan_inf_filter"] = False
    trainer = trainer_of(technique)(ctx)
    from jupyter_ft.training.distributed import world_size
    from jupyter_ft.training.preference_guard import preference_guard

    guard = preference_guard(ctx, trainer, (output_dir or job_dir) / "guard",
                             events if main_process else (lambda kind, payload: None), world_size())
    if ctx.notes and main_process:
        events("tag", {f"jupyter_ft.{k}": v for k, v in ctx.notes.items()})
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the reporter prints one line per logging step instead
    if not spec.checkpoint_every:
        from jupyter_ft.training.distributed import checkpoint_timer

        trainer.add_callback(checkpoint_timer(spec.checkpoint_minutes * 60))
    trainer.add_callback(NonFiniteGuard(trainer.model))  # after the timer: it sees whether this step will checkpoint
    trainer.add_callback(ThroughputMeter(trainer.model))  # before the reporters: they log its `tokens_per_s`
    if guard is not None:
        trainer.add_callback(guard)
    return trainer, tokenizer, spec, Path(ctx.args["output_dir"])


def check_finite(trainer) -> None:
    """Diverged after the last logged step: never a finished model."""
    from jupyter_ft.training.callbacks import first_non_finite

    if bad := first_non_finite(trainer.model):
        raise TrainingDiverged(trainer.state.global_step, f"weights ({bad})", float("nan"))


def save_output(trainer, tokenizer, spec: TrainSpec, out: Path, events, main_process: bool = True) -> None:
    """Save the adapter/model (every rank takes part: sharded engines gather) and record it (main process)."""
    if main_process:
        out.mkdir(parents=True, exist_ok=True)
    trainer.save_model(str(out))
    if not main_process:
        return
    tokenizer.save_pretrained(str(out))
    print(f"[jupyter_ft] saved {'adapter' if spec.lora else 'model'} to {out}", flush=True)
    events("artifact", {"path": str(out), "artifact_path": "adapter" if spec.lora else "model"})
    events("tag", {"jupyter_ft.output_dir": str(out)})


def run(ws: Workspace, job: jobstore.JobRecord, rank: int = 0) -> None:
    from jupyter_ft.training.callbacks import JobReporter

    def events(kind: str, payload: dict) -> None:
        jobstore.append_event(ws, job.id, kind, payload)

    main_process = rank == 0
    trainer, tokenizer, spec, ckpt_dir = build(ws, job, events, main_process=main_process)
    if main_process:  # only rank 0 reports progress and metrics
        trainer.add_callback(JobReporter(ws, job.id))
    if "LOCAL_RANK" not in os.environ:  # one process whose thread count the scheduler chose by the rule
        import torch

        from jupyter_ft.core.threads import Resizer
        from jupyter_ft.training.callbacks import ThreadTuner

        if (resizer := Resizer.from_env(torch.get_num_threads, torch.set_num_threads)) is not None:
            trainer.add_callback(ThreadTuner(resizer, ws, job.id))
    resume = last_complete_checkpoint(ckpt_dir, clean=main_process)
    if resume and main_process:
        print(f"[jupyter_ft] resuming from {resume.name}", flush=True)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    check_finite(trainer)
    out = Path(spec.output_dir).expanduser() if spec.output_dir else ws.job_dir(job.id) / "output"
    save_output(trainer, tokenizer, spec, out, events, main_process)


def main(argv: list[str] | None = None) -> int:
    ws, job = procs.open_job_process("python -m jupyter_ft.training", argv, _on_sigterm)
    # Under `accelerate launch` every rank runs this; the scheduler holds the launcher's pid (its process group holds
    # every rank), rank 0 reports, and a rank that dies or fails records nothing of its own: the launch exits
    # non-zero and the scheduler retries from the last checkpoint, as for a one-process job that died.
    launched = "LOCAL_RANK" in os.environ
    rank = int(os.environ.get("RANK", "0"))
    if not launched:
        jobstore.set_fields(ws, job.id, pid=os.getpid(), pid_started=procs.create_time(os.getpid()))
    if rank == 0:
        world = f" · {os.environ.get('WORLD_SIZE')} processes" if launched else ""
        print(f"\n=== jupyter_ft job {job.id} · attempt {job.attempt}/{job.max_attempts} · pid {os.getpid()}{world} · "
              f"{time.strftime('%Y-%m-%d %H:%M:%S')} ===", flush=True)
    try:
        if job.cancel_requested:
            raise JobCancelled()
        run(ws, job, rank)
    except JobCancelled:
        print(f"[jupyter_ft] cancelled{f' (rank {rank})' if launched else ''}", flush=True)
        jobstore.finish(ws, job.id, "cancelled", "cancelled by request")
        return 0
    except JobInputError as exc:
        print(f"[jupyter_ft] FAILED: {exc}", flush=True)
        jobstore.finish(ws, job.id, "failed", str(exc))
        return 2
    except TRANSIENT as exc:
        traceback.print_exc()
        if launched:
            return 3
        if job.attempt < job.max_attempts:
            jobstore.requeue(ws, job.id, f"attempt {job.attempt}: {type(exc).__name__}: {exc}; retrying")
            return 3
        jobstore.finish(ws, job.id, "failed", f"{type(exc).__name__}: {exc}")
        return 3
    except Exception as exc:
        traceback.print_exc()
        if launched:  # maybe a peer rank died (a collective fails here): the scheduler decides on a retry
            return 1
        jobstore.finish(ws, job.id, "failed", f"{type(exc).__name__}: {exc}")
        return 1
    if rank == 0:
        jobstore.finish(ws, job.id, "succeeded")
        print("[jupyter_ft] succeeded", flush=True)
    return 0
