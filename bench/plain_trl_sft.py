"""Baseline: the plain TRL script a user would write by hand (same model, data and settings as the job).

Prints one JSON line: tokens/s, train runtime, and seconds from process start to the first optimizer step.
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
ap.add_argument("--max-length", type=int, default=512)
ap.add_argument("--lr", type=float, default=2e-4)
ap.add_argument("--out", default="/tmp/plain_trl_out")
ap.add_argument("--lora-dropout", type=float, default=0.05)
ap.add_argument("--lora-r", type=int, default=8)
ap.add_argument("--lora-alpha", type=int, default=16)
ap.add_argument("--sampling", default="random", help="train_sampling_strategy (random, group_by_length)")
ap.add_argument("--packing", default=None, help="packing strategy (bfd, wrapped); default: no packing")
ap.add_argument("--logging-steps", type=int, default=10)
ap.add_argument("--seed", type=int, default=42)
a = ap.parse_args()

from datasets import load_dataset  # noqa: E402
from peft import LoraConfig  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402


class FirstStep(TrainerCallback):
    at = None

    def on_step_end(self, args, state, control, **kw):
        if FirstStep.at is None:
            FirstStep.at = time.time()


tok = AutoTokenizer.from_pretrained(a.model)
model = AutoModelForCausalLM.from_pretrained(a.model)
ds = load_dataset("json", data_files=a.data, split="train")
pack = {"packing": True, "packing_strategy": a.packing} if a.packing else {}
cfg = SFTConfig(output_dir=a.out, max_steps=a.steps, per_device_train_batch_size=a.batch, learning_rate=a.lr,
                logging_steps=a.logging_steps, use_cpu=True, bf16=False, gradient_checkpointing=False,
                assistant_only_loss=True, max_length=a.max_length, report_to=[], save_strategy="no", disable_tqdm=True,
                seed=a.seed, train_sampling_strategy=a.sampling, **pack)
trainer = SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok,
                     peft_config=LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=a.lora_dropout,
                                            target_modules="all-linear", task_type="CAUSAL_LM"),
                     callbacks=[FirstStep()])
out = trainer.train()
tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h][-1]
print(json.dumps({"tokens": tokens, "train_runtime": out.metrics["train_runtime"],
                  "tokens_per_s": tokens / out.metrics["train_runtime"], "start_to_first_step_s": FirstStep.at - START,
                  "final_loss": [h["loss"] for h in trainer.state.log_history if "loss" in h][-1],
                  "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h]}))
