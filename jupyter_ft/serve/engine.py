"""One base model in memory with many LoRA adapters beside it, and the batcher that generates for all of them at once.

Adapters are loaded into one `PeftModel` (PEFT `load_adapter`), so four adapters cost four adapter files, not four
models. Generation goes through `serve.batcher.Batcher`: requests for different adapters and the base share each
forward pass (PEFT mixed-adapter inference, `adapter_names=[...]`). `Engine.generate` is the synchronous call the
compare widget and `%%ft_chat` use; the OpenAI-compatible app (`serve.openai_app`) submits to the same batcher.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from jupyter_ft.core.spec.deploy import BASE_ALIAS

BASE = BASE_ALIAS  # the name the base model is asked for by (besides its own id)
PEFT_BASE = "__base__"  # PEFT's adapter_names entry for "no adapter"


class UnknownModel(KeyError):
    """A request names a model that is not served; the message lists the served ones."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0])


class AdapterRefused(ValueError):
    """An adapter that cannot be served beside this base (missing, wrong base, bad name)."""


def _same_model(a: str, b: str) -> bool:
    """Whether two base-model references name the same model: equal hub ids, or the same local folder."""
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.is_dir() and pb.is_dir():
        return pa.resolve() == pb.resolve()
    return a.rstrip("/") == b.rstrip("/")


def adapter_base(path: str | Path) -> str | None:
    """The base model an adapter folder was trained on (`base_model_name_or_path` of its adapter_config.json)."""
    cfg = Path(path) / "adapter_config.json"
    try:
        return json.loads(cfg.read_text()).get("base_model_name_or_path") or None
    except (OSError, ValueError) as exc:
        raise AdapterRefused(f"{path}: adapter_config.json is unreadable ({exc})") from None


def pick_device(device: str = "auto") -> str:
    import torch

    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


class Engine:
    """The served base model, its adapters and the batcher generating for them."""

    def __init__(self, base_model: str, adapters: dict[str, str] | None = None, device: str = "auto",
                 max_batch_size: int = 16, max_queue: int = 256, served_name: str | None = None,
                 batching: str = "mixed"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from jupyter_ft.serve.batcher import Batcher

        self.base_model = base_model
        self.base_id = served_name or base_model
        self.device = pick_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(base_model)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype).to(self.device).eval()
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 0) or 1 << 20)
        self.adapters: dict[str, str] = {}
        # Held by the batcher for each step and by adapter loading: the model's set of adapters changes between steps.
        self.model_lock = threading.RLock()
        self.batcher = Batcher(self, max_batch_size=max_batch_size, max_queue=max_queue, serial=batching == "serial")
        for name, path in (adapters or {}).items():
            self.add_adapter(name, path)

    # ---- models ----
    def served(self) -> list[str]:
        return [self.base_id, *self.adapters]

    def resolve(self, model: str | None) -> str:
        """The PEFT adapter name for a request's `model` (PEFT_BASE for the base)."""
        if model in (None, "", BASE, self.base_id, self.base_model):
            return PEFT_BASE
        if model in self.adapters:
            return model
        raise UnknownModel(f"model {model!r} is not served here; served: {', '.join(self.served())}")

    def add_adapter(self, name: str, path: str | Path) -> None:
        """Load a LoRA adapter beside the base; refused when it was trained on another base."""
        from peft import PeftModel

        if not name or any(c.isspace() for c in name):
            raise AdapterRefused(f"lora_name: {name!r} is not a usable adapter name")
        if name in (BASE, PEFT_BASE, self.base_id, self.base_model):
            raise AdapterRefused(f"lora_name: {name!r} is the base model's name")
        if name in self.adapters:
            raise AdapterRefused(f"lora_name: an adapter named {name!r} is already loaded (from {self.adapters[name]})")
        folder = Path(path).expanduser()
        if not (folder / "adapter_config.json").is_file():
            raise AdapterRefused(f"lora_path: {path} is not a LoRA adapter folder (no adapter_config.json)")
        trained_on = adapter_base(folder)
        if trained_on and not _same_model(trained_on, self.base_model):
            raise AdapterRefused(f"lora_path: adapter {name!r} was trained on base {trained_on!r}, but this endpoint "
                                 f"serves base {self.base_model!r}")
        with self.model_lock:
            try:
                if not isinstance(self.model, PeftModel):
                    self.model = PeftModel.from_pretrained(self.model, str(folder), adapter_name=name).eval()
                else:
                    self.model.load_adapter(str(folder), adapter_name=name)
                    self.model.eval()
            except Exception as exc:
                raise AdapterRefused(f"lora_path: {path} could not be loaded beside {self.base_model}: "
                                     f"{type(exc).__name__}: {exc}") from None
            self.adapters[name] = str(folder.resolve())

    def remove_adapter(self, name: str) -> None:
        """Unload an adapter; requests already generating with it finish first."""
        if name not in self.adapters:
            raise UnknownModel(f"lora_name: no adapter {name!r} is loaded; loaded: {', '.join(self.adapters) or 'none'}")
        self.batcher.drain(name)
        with self.model_lock:
            if len(self.adapters) == 1:  # PEFT cannot hold zero adapters: go back to the plain base model
                self.model = self.model.unload()
            else:
                self.model.delete_adapter(name)
            del self.adapters[name]

    # ---- prompts ----
    def chat_ids(self, messages: list[dict[str, Any]]) -> list[int]:
        out = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                 return_dict=True)
        return list(out["input_ids"])

    def text_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text)["input_ids"])

    # ---- one synchronous answer (compare widget, %%ft_chat, notebooks) ----
    def generate(self, prompt: str | list[dict[str, str]], model: str = BASE, max_new_tokens: int = 64,
                 temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None,
                 stop: list[str] | None = None) -> dict[str, Any]:
        """Answer one prompt (a user message or a whole conversation) with the base model or an adapter."""
        from jupyter_ft.serve.batcher import GenRequest

        adapter = self.resolve(model)
        if seed is None and temperature > 0:  # reproducible under torch.manual_seed, as HF generate was
            import torch

            seed = int(torch.randint(0, 2**62, (1,)))
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        req = GenRequest(prompt_ids=self.chat_ids(messages), adapter=adapter, max_new_tokens=max_new_tokens,
                         temperature=temperature, top_p=top_p, seed=seed, stop=stop or [])
        result = self.batcher.run(req)
        return {"model": model, "text": result.text.strip(), "completion_tokens": len(result.token_ids),
                "prompt_tokens": len(req.prompt_ids), "finish_reason": result.finish_reason}

    def close(self) -> None:
        self.batcher.stop()
