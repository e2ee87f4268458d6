"""What the plain-TRL baseline scripts share: the process start time, the common arguments, the LoRA config of the
job they are compared with, and a callback noting when the first optimizer step ended. Kept apart from jupyter_ft
so each baseline stays the script a user would write by hand."""

from __future__ import annotations

import argparse
import time

import psutil

START = psutil.Process().create_time()  # process start, so import and load time count as they do for a job


def parser(steps: int, max_length: int | None, lr: float, out: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--batch", type=int, default=8)
    if max_length is not None:
        ap.add_argument("--max-length", type=int, default=max_length)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--out", default=out)
    ap.add_argument("--lora-dropout", type=float, default=0.0, help="jupyter_ft's default (and PEFT's)")
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--lora-alpha", type=int, default=16)
    return ap


def lora_config(a):
    from peft import LoraConfig

    return LoraConfig(r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=a.lora_dropout, target_modules="all-linear",
                      task_type="CAUSAL_LM")


def first_step_callback():
    """A TrainerCallback whose `.at` is the time the first optimizer step ended."""
    from transformers import TrainerCallback

    class FirstStep(TrainerCallback):
        at: float | None = None

        def on_step_end(self, args, state, control, **kw):
            if self.at is None:
                self.at = time.time()

    return FirstStep()
