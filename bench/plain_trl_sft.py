"""Baseline: the plain TRL script a user would write by hand (same model, data and settings as the job).

Prints one JSON line: tokens/s, train runtime, and seconds from process start to the first optimizer step.
"""

from __future__ import annotations

import json

from baseline import START, first_step_callback, lora_config, parser

ap = parser(steps=60, max_length=512, lr=2e-4, out="/tmp/plain_trl_out")
ap.add_argument("--sampling", default="random", help="train_sampling_strategy (random, group_by_length)")
ap.add_argument("--packing", default=None, help="packing strategy (bfd, wrapped); default: no packing")
ap.add_argument("--logging-steps", type=int, default=10)
ap.add_argument("--seed", type=int, default=42)
a = ap.parse_args()

from datasets import load_dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402

first_step = first_step_callback()

tok = AutoTokenizer.from_pretrained(a.model)
model = AutoModelForCausalLM.from_pretrained(a.model)
ds = load_dataset("json", data_files=a.data, split="train")
pack = {"packing": True, "packing_strategy": a.packing} if a.packing else {}
cfg = SFTConfig(output_dir=a.out, max_steps=a.steps, per_device_train_batch_size=a.batch, learning_rate=a.lr,
                logging_steps=a.logging_steps, use_cpu=True, bf16=False, gradient_checkpointing=False,
                assistant_only_loss=True, max_length=a.max_length, report_to=[], save_strategy="no", disable_tqdm=True,
                seed=a.seed, train_sampling_strategy=a.sampling, **pack)
trainer = SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok,
                     peft_config=lora_config(a), callbacks=[first_step])
out = trainer.train()
tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h][-1]
print(json.dumps({"tokens": tokens, "train_runtime": out.metrics["train_runtime"],
                  "tokens_per_s": tokens / out.metrics["train_runtime"], "start_to_first_step_s": first_step.at - START,
                  "final_loss": [h["loss"] for h in trainer.state.log_history if "loss" in h][-1],
                  "losses": [h["loss"] for h in trainer.state.log_history if "loss" in h]}))
