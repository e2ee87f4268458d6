"""The over-optimisation guard of preference training, inside the job: feeds TRL's logs to the rules of
`jupyter_ft.core.train.overoptimisation`, warns the job (its summary in every face, an MLflow tag), and with
`action: stop` ends training and puts back the best evaluated weights, so the saved output is that checkpoint.

The best weights are the trainable parameters (the LoRA adapter; every weight in full fine-tuning) at the
evaluation with the lowest `eval_loss` among those whose held-out chosen log-prob had not fallen past the limit.
They are written to `<job>/guard/best.safetensors` when an evaluation improves on them, so a resumed attempt keeps
them. With several processes the guard only warns (each rank would have to restore its own shard).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

from transformers import TrainerCallback

from jupyter_ft.core.jobs.store import warning
from jupyter_ft.core.spec.guard import GUARDED_TECHNIQUES
from jupyter_ft.core.train.overoptimisation import Finding, Watch

BEST = "best.safetensors"
BEST_INFO = "best.json"


class PreferenceGuard(TrainerCallback):
    def __init__(self, model, folder: Path, *, beta: float, chosen_drop: float, patience: int, eval_patience: int,
                 stop: bool, events: Callable[[str, dict], None], has_eval: bool):
        self.model = model
        self.folder = folder
        self.watch = Watch(beta, chosen_drop, patience, eval_patience)
        self.stop = stop and has_eval
        self.events = events
        self.warned: set[str] = set()
        self.stopped: Finding | None = None
        self.best = self._read_best()

    # --- the rules ----------------------------------------------------------------------------------------------
    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        if "eval_loss" in logs:
            finding = self.watch.eval_log(state.global_step, logs)
            if self.stop and finding is None and self.stopped is None:  # a flagged evaluation is never kept
                self._keep_if_best(state.global_step, logs)
        elif "loss" in logs:
            finding = self.watch.train_log(state.global_step, logs)
        else:
            return
        if finding is None or finding.code in self.warned:
            return
        self.warned.add(finding.code)
        stopping = self.stop and self.stopped is None
        what = finding.message + (self._stop_note(state.global_step) if stopping else "")
        self.events("warning", warning(finding.code, finding.title, what, finding.step))
        print(f"[jupyter_ft] WARNING {finding.title}: {what}", flush=True)
        if stopping:
            self.stopped = finding
            control.should_training_stop = True

    def _stop_note(self, step: int) -> str:
        if self.best:
            return (f". Training stopped at step {step}; the output is the step-{self.best['step']} weights (the best "
                    f"evaluation before the fall, eval_loss {self.best['eval_loss']:.4g})")
        return (f". Training stopped at step {step}; no evaluation before it passed the guard, so the output is the "
                f"step-{step} weights")

    # --- the best evaluated weights ---------------------------------------------------------------------------------
    def _keep_if_best(self, step: int, logs: dict[str, Any]) -> None:
        loss = logs.get("eval_loss")
        if not isinstance(loss, (int, float)) or not math.isfinite(loss) or not self.watch.eligible():
            return
        if self.best is not None and loss >= self.best["eval_loss"]:
            return
        from safetensors.torch import save_file

        self.folder.mkdir(parents=True, exist_ok=True)
        weights = {n: p.detach().to("cpu").contiguous().clone() for n, p in self.model.named_parameters()
                   if p.requires_grad}
        save_file(weights, str(self.folder / (BEST + ".tmp")))
        (self.folder / (BEST + ".tmp")).replace(self.folder / BEST)
        self.best = {"step": step, "eval_loss": float(loss)}
        (self.folder / BEST_INFO).write_text(json.dumps(self.best))

    def _read_best(self) -> dict[str, Any] | None:
        try:
            info = json.loads((self.folder / BEST_INFO).read_text())
        except (OSError, ValueError):
            return None
        return info if (self.folder / BEST).is_file() else None

    def on_train_end(self, args, state, control, **kw):
        if self.stopped is None or self.best is None:
            return
        import torch
        from safetensors.torch import load_file

        saved = load_file(str(self.folder / BEST))
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                if name in saved:
                    p.copy_(saved[name].to(p.device, p.dtype))
        print(f"[jupyter_ft] restored the step-{self.best['step']} weights (eval_loss {self.best['eval_loss']:.4g}) "
              f"after stopping at step {state.global_step}", flush=True)
        self.events("tag", {"jupyter_ft.preference_guard.kept_step": self.best["step"],
                            "jupyter_ft.preference_guard.stopped_at": state.global_step})


def preference_guard(ctx: Any, trainer: Any, folder: Path, events: Callable[[str, dict], None],
                     world_size: int = 1) -> PreferenceGuard | None:
    """The guard for a job, or None where it does not apply: a technique without a reference model, no beta, or
    `preference_guard.action: off`. Says in the job log what it watches."""
    spec = ctx.spec
    guard = spec.preference_guard
    beta = getattr(spec.options, "beta", None) or getattr(trainer.args, "beta", None)
    if guard.action == "off" or spec.technique not in GUARDED_TECHNIQUES or not beta:
        return None
    has_eval = ctx.data.eval is not None
    stop = guard.action == "stop" and world_size == 1
    if guard.action == "stop" and not stop:
        how = "warn only (several processes)"
    elif guard.action == "stop" and not has_eval:
        how = "warn only (no held-out rows: no evaluated checkpoint to go back to)"
    else:
        how = "stop and keep the best evaluated checkpoint" if stop else "warn only"
    ctx.note("preference_guard", f"{how}; chosen log-prob may fall {guard.chosen_drop:.0%} below the reference; "
                                 f"patience {guard.patience} logs, {guard.eval_patience} evaluations")
    return PreferenceGuard(trainer.model, folder, beta=float(beta), chosen_drop=guard.chosen_drop,
                           patience=guard.patience, eval_patience=guard.eval_patience, stop=stop, events=events,
                           has_eval=has_eval)
