"""One base model, many LoRA adapters, switched per request (PEFT `load_adapter` / `set_adapter`).

Used by the demo and the side-by-side compare; the OpenAI-compatible endpoint builds on the same engine.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

BASE = "base"


class Engine:
    def __init__(self, base_model: str, adapters: dict[str, str] | None = None, device: str = "cpu"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.base_model = base_model
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(base_model)
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype).to(device).eval()
        self.adapters: dict[str, str] = {}
        self._lock = threading.Lock()  # one generation at a time: the active adapter is model state
        for name, path in (adapters or {}).items():
            self.add_adapter(name, path)

    def add_adapter(self, name: str, path: str | Path) -> None:
        from peft import PeftModel

        if name == BASE:
            raise ValueError(f"adapter name {BASE!r} is reserved for the base model")
        if not (Path(path) / "adapter_config.json").is_file():
            raise FileNotFoundError(f"{path} is not a LoRA adapter folder (no adapter_config.json)")
        with self._lock:
            if not self.adapters:
                self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name).eval()
            else:
                self.model.load_adapter(str(path), adapter_name=name)
            self.adapters[name] = str(path)

    def generate(self, prompt: str | list[dict[str, str]], model: str = BASE, max_new_tokens: int = 64,
                 temperature: float = 0.0, top_p: float = 1.0) -> dict[str, Any]:
        """Answer one prompt (a user message or a whole conversation) with the base model or an adapter."""
        import contextlib

        import torch

        if model != BASE and model not in self.adapters:
            raise KeyError(f"unknown model {model!r}; loaded: {[BASE, *self.adapters]}")
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        inputs = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True).to(self.device)
        sample = temperature > 0
        kwargs = dict(max_new_tokens=max_new_tokens, do_sample=sample, pad_token_id=self.tokenizer.pad_token_id)
        if sample:
            kwargs.update(temperature=temperature, top_p=top_p)
        with self._lock, torch.inference_mode():
            if model == BASE:
                ctx = self.model.disable_adapter() if self.adapters else contextlib.nullcontext()
            else:
                self.model.set_adapter(model)
                ctx = contextlib.nullcontext()
            with ctx:
                out = self.model.generate(**inputs, **kwargs)
        new = out[0][inputs["input_ids"].shape[1]:]
        return {"model": model, "text": self.tokenizer.decode(new, skip_special_tokens=True).strip(),
                "completion_tokens": int(new.shape[0]), "prompt_tokens": int(inputs["input_ids"].shape[1])}
