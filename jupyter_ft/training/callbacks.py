"""Trainer callbacks of a job: progress and metrics to the workspace, training speed, clock-based checkpoints,
divergence guard."""

from __future__ import annotations

import math
import time

from transformers import TrainerCallback

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.daemon import ensure_scheduler
from jupyter_ft.core.workspace import Workspace

from jupyter_ft.training.errors import TrainingDiverged

PROGRESS_EVERY_S = 1.0
WATCHDOG_EVERY_S = 10.0


class JobReporter(TrainerCallback):
    """Writes step/total to the job row (throttled), every logged metric to the job's event log, one log line per
    logging step; and keeps the scheduler alive while the job runs (each watches the other)."""

    def __init__(self, ws: Workspace, job_id: str):
        self.ws = ws
        self.job_id = job_id
        self._last_progress = 0.0
        self._last_watchdog = time.time()
        self.first_step_at: float | None = None

    def on_train_begin(self, args, state, control, **kw):
        jobstore.set_fields(self.ws, self.job_id, total_steps=state.max_steps, step=state.global_step, progress_at=time.time())
        import torch

        n = torch.get_num_threads()
        print(f"[jupyter_ft] training: {state.max_steps} steps, starting at step {state.global_step}, "
              f"{n} torch thread{'s' if n != 1 else ''}", flush=True)

    def on_step_end(self, args, state, control, **kw):
        now = time.time()
        if self.first_step_at is None:
            self.first_step_at = now
            jobstore.append_event(self.ws, self.job_id, "tag", {"jupyter_ft.first_step_at": now}, step=state.global_step)
        if now - self._last_progress >= PROGRESS_EVERY_S or state.global_step >= state.max_steps:
            self._last_progress = now
            jobstore.set_fields(self.ws, self.job_id, step=state.global_step, progress_at=now)
        if now - self._last_watchdog >= WATCHDOG_EVERY_S:
            self._last_watchdog = now
            ensure_scheduler(self.ws, wake=False)

    def on_log(self, args, state, control, logs=None, **kw):
        values = {k: float(v) for k, v in (logs or {}).items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))}
        if not values:
            return
        jobstore.append_event(self.ws, self.job_id, "metrics", {"values": values}, step=state.global_step)
        shown = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        print(f"[jupyter_ft] step {state.global_step}/{state.max_steps} {shown}", flush=True)

    def on_save(self, args, state, control, **kw):
        print(f"[jupyter_ft] checkpoint saved at step {state.global_step}", flush=True)

    def on_train_end(self, args, state, control, **kw):
        jobstore.set_fields(self.ws, self.job_id, step=state.global_step, progress_at=time.time())


class ThroughputMeter(TrainerCallback):
    """Adds `tokens_per_s` to every training log: the tokens that went through the model with gradients on (the
    non-pad tokens of each training forward: prompt and completion, chosen and rejected; not the reference model,
    generation or evaluation, which run without gradients) divided by the seconds spent inside optimizer steps
    since the previous log (step begin to step end: evaluation, checkpoints and the logging itself are left out).
    The count is taken by a forward pre-hook on the model rather than read from the trainer's `num_tokens`, which
    not every trainer logs and which some restart at 0 on resume while others restore it. Add it before the
    callbacks that read the log (the reporter): they see the same dict."""

    def __init__(self, model):
        self.tokens = None  # a running tensor sum (no device sync per step), read at log time
        self.logged_tokens = 0.0
        self.busy_s = 0.0
        self.step_began: float | None = None
        self.handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        import torch

        if not (module.training and torch.is_grad_enabled()):
            return None
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids", args[0] if args else None)
        if isinstance(mask, torch.Tensor) and mask.dim() == 2:
            n = mask.sum()
        elif isinstance(ids, torch.Tensor):  # padding-free batches carry no mask and no padding
            n = torch.tensor(ids.numel(), device=ids.device)
        else:
            return None
        n = n.detach().to(torch.float64)
        self.tokens = n if self.tokens is None else self.tokens + n.to(self.tokens.device)
        return None

    def counted(self) -> float:
        """Tokens counted so far in this process."""
        return float(self.tokens.item()) if self.tokens is not None else 0.0

    def on_step_begin(self, args, state, control, **kw):
        self.step_began = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        if self.step_began is not None:
            self.busy_s += time.perf_counter() - self.step_began
            self.step_began = None

    def on_log(self, args, state, control, logs=None, **kw):
        if logs is None or "loss" not in logs or self.busy_s <= 0:
            return  # evaluation logs and the end-of-run totals have no step time of their own
        total = self.counted()
        if total > self.logged_tokens:
            logs["tokens_per_s"] = (total - self.logged_tokens) / self.busy_s
        self.logged_tokens, self.busy_s = total, 0.0

    def on_train_end(self, args, state, control, **kw):
        self.handle.remove()


class ThreadTuner(TrainerCallback):
    """Re-sizes torch's threads while the job trains (`jupyter_ft.core.threads.Resizer`: the thread rule again every
    30 s, with the job's own threads taken off the load), when another job or endpoint of the workspace starts or
    ends or other programs load the cores. Training runs in the main thread, where this is called: a new count
    applies from the next step on."""

    def __init__(self, resizer, ws: Workspace, job_id: str):
        self.resizer = resizer
        self.ws = ws
        self.job_id = job_id

    def on_step_end(self, args, state, control, **kw):
        line = self.resizer.tick()
        if line:
            line = f"{line} at step {state.global_step}"
            jobstore.append_event(self.ws, self.job_id, "tag", {"jupyter_ft.torch_threads": line},
                                  step=state.global_step)
            print(f"[jupyter_ft] {line}", flush=True)


class CheckpointTimer(TrainerCallback):
    """Save a resumable checkpoint every `interval_s` of training, stretched so that saving takes at most
    `max_share` of the time (a 10 s save is then made at most every 200 s). Step-based saving would either
    checkpoint a fast job far too often or a slow one too rarely."""

    def __init__(self, interval_s: float, max_share: float = 0.05):
        self.interval_s = interval_s
        self.max_share = max_share
        self.last = time.time()
        self.save_started: float | None = None
        self.save_cost = 0.0

    def on_train_begin(self, args, state, control, **kw):
        self.last = time.time()

    def on_step_end(self, args, state, control, **kw):
        wait = max(self.interval_s, self.save_cost / self.max_share)
        if time.time() - self.last >= wait and state.global_step < state.max_steps:
            control.should_save = True
            self.save_started = time.time()

    def on_save(self, args, state, control, **kw):
        now = time.time()
        if self.save_started is not None:
            self.save_cost = now - self.save_started
            self.save_started = None
        self.last = now


# Training values that must stay finite: once one is NaN/inf the weights are (or are about to be) garbage. An eval
# loss is not among them: a NaN there (e.g. an eval batch with every label masked) leaves the weights untouched.
GUARDED = ("loss", "grad_norm", "train_loss")


class NonFiniteGuard(TrainerCallback):
    """Stop a job the moment its loss or gradient norm turns NaN/inf, before the step's checkpoint is written, and
    refuse to checkpoint trainable weights that are no longer finite; the job then fails naming step, metric and
    value (see `TrainingDiverged`), keeping its last good checkpoint. It clips, skips or rescales nothing:
    `max_grad_norm` and the other guards stay the user's. Add it after the callbacks that decide to save."""

    def __init__(self, model=None):
        self.model = model
        self.pending: tuple[int, str] | None = None  # weights found non-finite; the step's log may say why

    def on_log(self, args, state, control, logs=None, **kw):
        for name in GUARDED:
            v = (logs or {}).get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isfinite(v):
                raise TrainingDiverged(state.global_step, name, float(v))
        if self.pending:
            raise TrainingDiverged(self.pending[0], f"weights ({self.pending[1]})", float("nan"))

    def on_step_end(self, args, state, control, model=None, **kw):
        if self.pending:
            raise TrainingDiverged(self.pending[0], f"weights ({self.pending[1]})", float("nan"))
        if control.should_save:
            bad = first_non_finite(model if model is not None else self.model)
            if bad and control.should_log:  # skip this save; the log that follows names the metric that blew up
                control.should_save = False
                self.pending = (state.global_step, bad)
            elif bad:
                raise TrainingDiverged(state.global_step, f"weights ({bad})", float("nan"))


def first_non_finite(model) -> str | None:
    """Name of the first trainable parameter holding a NaN/inf (only trainable ones change: LoRA checks are cheap)."""
    if model is None:
        return None
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad and not bool(torch.isfinite(p).all()):
                return name
    return None
