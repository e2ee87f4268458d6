"""Baseline: the plain TRL GRPO script a user would write by hand (same model, prompts, reward and settings as the
job). Prints one JSON line: samples/s (completions per second of training), train runtime, seconds from process
start to the first optimizer step, and the last mean reward."""

from __future__ import annotations

import json

from baseline import START, first_step_callback, lora_config, parser

ap = parser(steps=30, max_length=None, lr=1e-5, out="/tmp/plain_trl_grpo_out")
ap.add_argument("--generations", type=int, default=4)
ap.add_argument("--completion-length", type=int, default=32)
a = ap.parse_args()

from datasets import load_dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

first_step = first_step_callback()

def emits_e(completions, **row):
    texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
    return [t.count("e") / 8 for t in texts]


tok = AutoTokenizer.from_pretrained(a.model)
model = AutoModelForCausalLM.from_pretrained(a.model)
ds = load_dataset("json", data_files=a.data, split="train")
cfg = GRPOConfig(output_dir=a.out, max_steps=a.steps, per_device_train_batch_size=a.batch, learning_rate=a.lr,
                 logging_steps=10, use_cpu=True, bf16=False, gradient_checkpointing=False, report_to=[],
                 save_strategy="no", disable_tqdm=True, seed=42, num_generations=a.generations,
                 max_completion_length=a.completion_length, beta=0.04, log_completions=False)
trainer = GRPOTrainer(model=model, reward_funcs=[emits_e], args=cfg, train_dataset=ds, processing_class=tok,
                      peft_config=lora_config(a),
                      callbacks=[first_step])
out = trainer.train()
runtime = out.metrics["train_runtime"]
print(json.dumps({"samples": a.steps * a.batch, "train_runtime": runtime, "samples_per_s": a.steps * a.batch / runtime,
                  "start_to_first_step_s": first_step.at - START,
                  "final_reward": [h["reward"] for h in trainer.state.log_history if "reward" in h][-1]}))
