"""A job whose loss or gradient norm turns NaN/inf fails naming step, metric and value; nothing is saved as its
finished model, it is not retried, and its last checkpoint from before the divergence is finite and loadable."""

from __future__ import annotations

import math

import pytest

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.training.callbacks import NonFiniteGuard
from jupyter_ft.training.errors import TrainingDiverged


def test_diverging_job_fails_with_step_and_metric(ws, tiny_model, sft_file):
    # weight_decay=1e30 is finite (validation accepts it) but makes AdamW blow the LoRA weights up after step 1.
    job = ft.submit({"model": str(tiny_model), "dataset": str(sft_file), "technique": "sft", "lora": {"r": 4},
                     "max_steps": 20, "logging_steps": 1, "checkpoint_every": 1, "weight_decay": 1e30,
                     "learning_rate": 0.01, "max_attempts": 3}, ws)
    job.wait(timeout=300)
    rec = job.record
    assert rec.state == "failed", job.logs(tail=40)
    assert "training diverged at step 2" in rec.error and ("loss" in rec.error or "grad_norm" in rec.error)
    assert ("nan" in rec.error or "inf" in rec.error)
    assert rec.attempt == 1  # not retried
    assert not (job.output_dir / "adapter_model.safetensors").exists()
    assert not any(e["kind"] == "artifact" for e in jobstore.events(ws, job.id))
    (ckpt,) = sorted((job.dir / "checkpoints").glob("checkpoint-*"))
    assert ckpt.name == "checkpoint-1"
    from safetensors.torch import load_file

    weights = load_file(str(ckpt / "adapter_model.safetensors"))
    assert weights and all(bool(t.isfinite().all()) for t in weights.values())


def test_guard_names_the_metric_and_leaves_finite_logs_alone():
    class State:
        global_step = 7

    guard = NonFiniteGuard()
    guard.on_log(None, State(), None, logs={"loss": 1.5, "grad_norm": 3e38, "learning_rate": 0.1})
    with pytest.raises(TrainingDiverged) as ei:
        guard.on_log(None, State(), None, logs={"loss": 2.0, "grad_norm": math.inf})
    assert ei.value.step == 7 and ei.value.metric == "grad_norm" and "step 7: grad_norm = inf" in str(ei.value)
