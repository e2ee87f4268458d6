"""Baseline: the plain TRL DPO script a user would write by hand (same model, data and settings as the job).

Prints one JSON line: samples/s (pairs per second of training), train runtime, seconds from process start to the
first optimizer step, and the last reward margin.
"""

from __future__ import annotations

import json

from baseline import START, first_step_callback, lora_config, parser

ap = parser(steps=60, max_length=256, lr=5e-5, out="/tmp/plain_trl_dpo_out")
a = ap.parse_args()

from datasets import load_dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

first_step = first_step_callback()

tok = AutoTokenizer.from_pretrained(a.model)
model = AutoModelForCausalLM.from_pretrained(a.model)
ds = load_dataset("json", data_files=a.data, split="train")
cfg = DPOConfig(output_dir=a.out, max_steps=a.steps, per_device_train_batch_size=a.batch, learning_rate=a.lr,
                logging_steps=10, use_cpu=True, bf16=False, gradient_checkpointing=False, max_length=a.max_length,
                report_to=[], save_strategy="no", disable_tqdm=True, seed=42, beta=0.1)
trainer = DPOTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok,
                     peft_config=lora_config(a), callbacks=[first_step])
out = trainer.train()
runtime = out.metrics["train_runtime"]
print(json.dumps({"samples": a.steps * a.batch, "train_runtime": runtime, "samples_per_s": a.steps * a.batch / runtime,
                  "start_to_first_step_s": first_step.at - START,
                  "final_margin": [h["rewards/margins"] for h in trainer.state.log_history if "rewards/margins" in h][-1]}))
