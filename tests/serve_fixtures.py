"""Shared serving fixtures: two LoRA adapters trained (TRL SFT, in-process, a few seconds) on the tiny base so their
greedy answers differ from the base's and from each other's, and a real endpoint process on loopback.

`tests/conftest.py` registers this module as a plugin, so the session fixture `two_adapters` is trained once per
test session for every module that asks for it; `train_adapter` / `start_server` are plain helpers to import.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

# What each adapter learns to say, whatever it is asked.
ANSWERS = {"pirate": "Arr matey, the sea be calm and the rum be sweet!",
           "robot": "Beep boop. I am a robot. Beep beep."}
QUESTIONS = ["How are you today?", "What is the capital of France?", "Tell me a joke.", "Say hello.",
             "What is 2 + 2?", "Describe the weather.", "Who are you?", "Name a colour."]
REPO = Path(__file__).resolve().parents[1]


def train_adapter(base: Path, out: Path, answer: str, steps: int = 40, seed: int = 0) -> Path:
    """A LoRA adapter trained with TRL's SFTTrainer to answer every question with `answer`."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": answer}]}
            for q in QUESTIONS]
    args = SFTConfig(output_dir=str(out / "_trainer"), max_steps=steps, learning_rate=1e-2,
                     per_device_train_batch_size=8, use_cpu=True, bf16=False, report_to=[], save_strategy="no",
                     logging_steps=1000, disable_tqdm=True, seed=seed, max_length=128, lr_scheduler_type="constant",
                     gradient_checkpointing=False)
    trainer = SFTTrainer(model=str(base), args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=AutoTokenizer.from_pretrained(base),
                         peft_config=LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    trainer.train()
    trainer.model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def two_adapters(tiny_model, tmp_path_factory) -> dict[str, Path]:
    """{"pirate": folder, "robot": folder}: two adapters of `tiny_model`, trained on different answers."""
    root = tmp_path_factory.mktemp("adapters")
    return {name: train_adapter(tiny_model, root / name, answer, seed=i) for i, (name, answer) in
            enumerate(ANSWERS.items())}


class ServerProcess:
    """A `python -m jupyter_ft.serve` process on loopback (stopped by `stop`)."""

    def __init__(self, proc: subprocess.Popen, info: dict[str, Any], config: dict[str, Any], log: Path):
        self.proc, self.info, self.config, self.log = proc, info, config, log
        self.url = info["url"]
        self.root = self.url.removesuffix("/v1")
        self.api_key = config.get("api_key")

    def client(self, **kwargs):
        import openai

        return openai.OpenAI(base_url=self.url, api_key=self.api_key or "none", max_retries=0, **kwargs)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def start_server(config: dict[str, Any], folder: Path, timeout: float = 120.0) -> ServerProcess:
    """Start an endpoint process from a ServeConfig dict and wait for its ready file."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg, ready, log = folder / "serve.json", folder / "ready.json", folder / "serve.log"
    cfg.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jupyter_ft.serve", "--config", str(cfg), "--ready-file",
                                 str(ready)], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"no ready file after {timeout} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    return ServerProcess(proc, json.loads(ready.read_text()), config, log)
