"""What every technique module receives, and the TrainingArguments all techniques share.

A technique (`jupyter_ft.training.techniques.sft`, `.dpo`, ...) has one job-side function, `build_trainer(ctx) ->
transformers.Trainer`, that turns this context plus its own options block (`ctx.spec.options`) into a TRL trainer.
Everything else (data, model, LoRA, checkpoints, progress, resume, tracking) is common and lives in the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_ft.core.train.sizing import eval_interval, total_steps
from jupyter_ft.core.spec.train import TrainSpec

from jupyter_ft.training.data import LoadedData


@dataclass
class TrainContext:
    spec: TrainSpec
    job_dir: Path
    tokenizer: Any
    model: Any
    data: LoadedData
    peft_config: Any | None
    args: dict[str, Any]
    notes: dict[str, str] = field(default_factory=dict)

    def reference_note(self) -> str:
        """What the reference model of DPO-like techniques is, for the job log."""
        return ("the base model with the LoRA adapter disabled (no second copy)" if self.peft_config is not None
                else "a frozen copy of the initial model")

    def note(self, key: str, text: str) -> None:
        """Record a decision the technique made (logged to the job log and as an MLflow tag)."""
        self.notes[key] = text
        print(f"[jupyter_ft] {key}: {text}", flush=True)


def estimate_total_steps(spec: TrainSpec, rows: int) -> int:
    return total_steps(spec, rows)


def common_args(spec: TrainSpec, job_dir: Path, steps: int, has_eval: bool) -> dict[str, Any]:
    """TrainingArguments shared by every technique (each adds its own and builds its TRL *Config). Checkpoints go
    to `job_dir/checkpoints` (a Ray worker passes a folder on its node; Ray copies them to the storage path)."""
    args: dict[str, Any] = dict(
        output_dir=str(job_dir / "checkpoints"),
        per_device_train_batch_size=spec.batch_size,
        per_device_eval_batch_size=spec.eval_batch_size or spec.batch_size,
        gradient_accumulation_steps=spec.grad_accum,
        learning_rate=spec.learning_rate,
        num_train_epochs=spec.epochs,
        max_steps=spec.max_steps or -1,
        lr_scheduler_type=spec.lr_scheduler,
        warmup_steps=spec.warmup_ratio if spec.warmup_ratio < 1 else 1.0,
        weight_decay=spec.weight_decay,
        logging_steps=min(spec.logging_steps, max(1, steps // 2)),
        # Step-based checkpoints when asked for; otherwise `CheckpointTimer` saves on a clock.
        save_strategy="steps" if spec.checkpoint_every else "no",
        save_steps=spec.checkpoint_every or 500,
        save_total_limit=2,
        seed=spec.seed,
        bf16=spec.precision == "bf16",
        fp16=spec.precision == "fp16",
        use_cpu=spec.device == "cpu",
        gradient_checkpointing=bool(spec.gradient_checkpointing),
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    if spec.liger_kernel:
        args["use_liger_kernel"] = True
    if has_eval:
        args.update(eval_strategy="steps", eval_steps=eval_interval(spec, steps))
    return args
