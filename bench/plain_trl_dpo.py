"""Baseline: the plain TRL DPO script a user would write by hand (same model, data and settings as the job).

Prints one JSON line: samples/s (pairs per second of training), train runtime, seconds from process start to the
first optimizer step, and the last reward margin.
"""

from __future__ import annotations

import argparse
import json
import time

import psutil

START = psutil.Process().create_time()

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--data", required=True)
ap.add_argument("--steps", type=int, default=60)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--max-length", type=int, default=256)
ap.add_argument("--lr", type=float, default=5e-5)
ap.add_argument("--out", default="/tmp/plain_trl_dpo_out")
a = ap.parse_args()

from datasets import load_dataset  # noqa: E402
from peft import LoraConfig  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402


class FirstStep(TrainerCallback):
    at = None

    def on_step_end(self, args, state, control, **kw):
        if FirstStep.at is None:
            FirstStep.at = time.time()


tok = AutoTokenizer.from_pretrained(a.model)
model = AutoModelForCausalLM.from_pretrained(a.model)
ds = load_dataset("json", data_files=a.data, split="train")
cfg = DPOConfig(output_dir=a.out, max_steps=a.steps, per_device_train_batch_size=a.batch, learning_rate=a.lr,
                logging_steps=10, use_cpu=True, bf16=False, gradient_checkpointing=False, max_length=a.max_length,
                report_to=[], save_strategy="no", disable_tqdm=True, seed=42, beta=0.1)
trainer = DPOTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok,
                     peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear",
                                            task_type="CAUSAL_LM"),
                     callbacks=[FirstStep()])
out = trainer.train()
runtime = out.metrics["train_runtime"]
print(json.dumps({"samples": a.steps * a.batch, "train_runtime": runtime, "samples_per_s": a.steps * a.batch / runtime,
                  "start_to_first_step_s": FirstStep.at - START,
                  "final_margin": [h["rewards/margins"] for h in trainer.state.log_history if "rewards/margins" in h][-1]}))
