"""Where an SFT step's time goes, by layer: data collation, forward, loss head (+ TRL's per-step token metrics),
backward, optimizer, logging. Profiles (pyinstrument) the same run twice in one process order-alternated:

- before: TRL 1.16 `SFTTrainer` defaults with LoRA dropout 0.05 (jupyter_ft's previous path)
- after: jupyter_ft's CPU choices: LoRA dropout 0, rows bucketed by length, the model's own loss without the
  per-step entropy/accuracy head (`jupyter_ft.core.train.techniques.sft`'s trainer)

    python bench/profile_sft.py [--steps 30] [--rows 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

# (layer, functions that start it): the first matching frame on a path owns its subtree; nested matches of a later
# layer are subtracted from it (e.g. the loss head inside the forward).
LAYERS = {
    "collation": ("get_batch_samples",),
    # before: TRL's chunked head (lm_head projection + log-probs + entropy/accuracy); after: the cross-entropy only
    # (the lm_head projection is then counted in the forward)
    "loss head + token metrics": ("ChunkedLogProbFunction.apply", "ChunkedLogProbFunctionBackward.apply",
                                  "ForCausalLMLoss", "_ChunkedLogProbFunction.apply"),
    "forward": ("compute_loss",),
    "backward": ("Accelerator.backward",),
    "optimizer": ("AcceleratedOptimizer.step", "AcceleratedOptimizer.zero_grad", "wrapper"),
    "logging": ("_maybe_log_save_evaluate", "CallbackHandler.on_step_end", "CallbackHandler.on_log"),
}


def _owner(frame) -> str | None:
    name = f"{frame.class_name}.{frame.function}" if getattr(frame, "class_name", None) else frame.function
    for layer, fns in LAYERS.items():
        if frame.function in fns or name in fns:
            if layer == "optimizer" and frame.function == "wrapper" and "lr_scheduler" not in (frame.file_path or ""):
                return None
            return layer
    return None


def breakdown(root) -> dict[str, float]:
    out = {k: 0.0 for k in LAYERS}

    def walk(frame, owner: str | None):
        mine = _owner(frame)
        if mine and mine != owner:
            out[mine] += frame.time
            if owner:
                out[owner] -= frame.time
            owner = mine
        for c in frame.children:
            walk(c, owner)

    walk(root, None)
    return out


def run(model: Path, data: Path, after: bool, steps: int):
    from datasets import load_dataset
    from peft import LoraConfig
    from pyinstrument import Profiler
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from jupyter_ft.training.techniques.sft import _model_loss_trainer

    tok = AutoTokenizer.from_pretrained(model)
    ds = load_dataset("json", data_files=str(data), split="train")
    cfg = SFTConfig(output_dir=tempfile.mkdtemp(), max_steps=steps, per_device_train_batch_size=8,
                    learning_rate=2e-4, logging_steps=10, use_cpu=True, bf16=False, gradient_checkpointing=False,
                    assistant_only_loss=True, max_length=512, report_to=[], save_strategy="no", disable_tqdm=True,
                    seed=42, train_sampling_strategy="group_by_length" if after else "random")
    cls = _model_loss_trainer() if after else SFTTrainer
    trainer = cls(model=AutoModelForCausalLM.from_pretrained(model), args=cfg, train_dataset=ds,
                  processing_class=tok, peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0 if after else 0.05,
                                                               target_modules="all-linear", task_type="CAUSAL_LM"))
    prof = Profiler(interval=0.002)
    prof.start()
    out = trainer.train()
    prof.stop()
    tokens = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h][-1]
    total = out.metrics["train_runtime"]
    return breakdown(prof.last_session.root_frame()), tokens / total, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rows", type=int, default=2000)
    a = ap.parse_args()
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from throughput import chat_rows

    import jupyter_ft as ft

    tmp = Path(tempfile.mkdtemp(prefix="jft-profile-"))
    model = ft.make_tiny_model(tmp / "tiny")
    data = tmp / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in chat_rows(a.rows)))
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    res = {}
    for name, after in (("before", False), ("after", True)):
        res[name] = run(model, data, after, a.steps)
    print(f"\nSFT, tiny Llama, LoRA r=8, batch 8, max_length 512, fp32 CPU, {a.steps} steps (pyinstrument, seconds)")
    print(f"| layer | before | after |\n|---|---|---|")
    for layer in LAYERS:
        b, f = res["before"][0][layer], res["after"][0][layer]
        print(f"| {layer} | {b:.2f} ({b / res['before'][2]:.0%}) | {f:.2f} ({f / res['after'][2]:.0%}) |")
    print(f"| train runtime | {res['before'][2]:.2f} | {res['after'][2]:.2f} |")
    print(f"| tokens/s | {res['before'][1]:.0f} | {res['after'][1]:.0f} |")


if __name__ == "__main__":
    main()
