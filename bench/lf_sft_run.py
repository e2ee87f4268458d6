"""LLaMA-Factory SFT on the benchmark's model and data, run inside an environment that has `llamafactory`
(see bench/setup_llamafactory.sh). Settings mirror bench/throughput.py: LoRA r=8 all-linear, batch 8, fp32 on CPU,
no gradient checkpointing (LLaMA-Factory enables it by default), chat template
parsed from the tokenizer, loss on every assistant turn (its default, like jupyter_ft's). Prints one JSON line: non-padding tokens fed to training, train runtime, tokens/s, and
seconds from process start to the first optimizer step.

    $LLAMAFACTORY_PYTHON bench/lf_sft_run.py --model M --data chat.jsonl --steps 60 [--packing]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

START = time.time()
try:
    import psutil

    START = psutil.Process().create_time()
except ImportError:
    pass

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--data", required=True)
ap.add_argument("--steps", type=int, default=60)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--max-length", type=int, default=512)
ap.add_argument("--lr", type=float, default=2e-4)
ap.add_argument("--packing", action="store_true")
a = ap.parse_args()

from llamafactory.train.tuner import run_exp  # noqa: E402
from transformers import Trainer, TrainerCallback  # noqa: E402

_training_step = Trainer.training_step


def counting_training_step(self, model, inputs, *args, **kwargs):
    """Count the non-padding tokens of every batch fed to training (a measuring hook of this script only)."""
    Meter.tokens += int((inputs["attention_mask"] != 0).sum())
    return _training_step(self, model, inputs, *args, **kwargs)


Trainer.training_step = counting_training_step


class Meter(TrainerCallback):
    """When the first optimizer step ended, the train runtime and the losses."""

    tokens = 0
    first_step_at = None
    runtime = None
    losses: list[float] = []

    def on_step_end(self, args, state, control, **kw):
        if Meter.first_step_at is None:
            Meter.first_step_at = time.time()

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        if "train_runtime" in logs:
            Meter.runtime = logs["train_runtime"]
        if "loss" in logs:
            Meter.losses.append(logs["loss"])


work = Path(tempfile.mkdtemp(prefix="lf-bench-"))
data = Path(a.data).resolve()
(work / "dataset_info.json").write_text(json.dumps({"chat": {
    "file_name": str(data), "formatting": "sharegpt", "columns": {"messages": "messages"},
    "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
             "system_tag": "system"}}}))
args = dict(model_name_or_path=a.model, stage="sft", do_train=True, finetuning_type="lora", lora_rank=8,
            lora_target="all", dataset="chat", dataset_dir=str(work), cutoff_len=a.max_length,
            overwrite_cache=True, preprocessing_num_workers=1, output_dir=str(work / "out"), overwrite_output_dir=True,
            save_strategy="no", logging_steps=10, per_device_train_batch_size=a.batch, gradient_accumulation_steps=1,
            learning_rate=a.lr, max_steps=a.steps, lr_scheduler_type="linear", bf16=False, use_cpu=True,
            report_to="none", disable_tqdm=True, seed=42, packing=a.packing,
            disable_gradient_checkpointing=True)  # LLaMA-Factory turns it on unless told; the bench runs without
os.environ.setdefault("DISABLE_VERSION_CHECK", "1")
run_exp(args, callbacks=[Meter()])
print(json.dumps({"tokens": Meter.tokens, "train_runtime": Meter.runtime, "tokens_per_s": Meter.tokens / Meter.runtime,
                  "start_to_first_step_s": Meter.first_step_at - START, "losses": Meter.losses}))
