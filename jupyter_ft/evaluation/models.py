"""The models of an evaluation, loaded as few times as possible.

Models are grouped by the base they run on: each base is loaded once, and the adapters on it are added with
PEFT (`PeftModel.from_pretrained` for the first, `load_adapter` for the rest) and switched with `set_adapter`;
the base itself is scored with the adapters disabled. A whole model (a full fine-tune, a hub id) is its own
group. Endpoints (`http://host:port/v1#model`) generate through the OpenAI-compatible chat API; log-likelihood
evaluators need `/v1/completions` with `echo` and `logprobs`, probed once, and refuse the endpoint clearly if not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from jupyter_ft.core.registry.model_refs import ModelRef


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded (or reached); the message names it."""


def fingerprint(ref: ModelRef) -> str:
    """What identifies a model's answers in the cache: its paths plus the size and time of its weight files (a
    folder trained again gives new answers), or the endpoint URL and served name."""
    if ref.kind == "endpoint":
        return f"endpoint:{ref.url}#{ref.served_name}"
    parts = [ref.kind, str(ref.model), str(ref.adapter)]
    for folder in (ref.adapter, ref.model):
        p = Path(folder).expanduser() if folder else None
        if p is not None and p.is_dir():
            for f in sorted(p.glob("*.safetensors")) + sorted(p.glob("*.bin")):
                st = f.stat()
                parts.append(f"{f.name}:{st.st_size}:{int(st.st_mtime_ns)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def torch_device(name: str) -> str:
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "cpu"
    return name


@dataclass
class LocalGroup:
    """One base model in memory and the adapters loaded on it."""

    base: str
    device: str
    tokenizer: Any = None
    model: Any = None
    adapters: dict[str, str] = field(default_factory=dict)   # adapter name -> folder
    loads: int = 0

    def load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.base)
            dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(self.base, dtype=dtype).to(self.device).eval()
        except Exception as exc:
            raise ModelLoadError(f"cannot load {self.base!r}: {type(exc).__name__}: {str(exc)[:300]}") from None
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.loads += 1

    def add_adapter(self, name: str, path: str) -> None:
        from peft import PeftModel

        try:
            if not self.adapters:
                self.model = PeftModel.from_pretrained(self.model, path, adapter_name=name).eval()
            else:
                self.model.load_adapter(path, adapter_name=name)
        except Exception as exc:
            raise ModelLoadError(f"cannot load adapter {path!r} on {self.base!r}: {type(exc).__name__}: "
                                 f"{str(exc)[:300]}") from None
        self.adapters[name] = path

    @contextlib.contextmanager
    def use(self, adapter: str | None) -> Iterator[Any]:
        """The model with `adapter` active, or the plain base (adapters disabled) for None."""
        if adapter is None:
            ctx = self.model.disable_adapter() if self.adapters else contextlib.nullcontext()
            with ctx:
                yield self.model
        else:
            self.model.set_adapter(adapter)
            yield self.model

    def close(self) -> None:
        import gc

        self.model = None
        gc.collect()


def group_models(refs: list[ModelRef]) -> list[tuple[str, list[ModelRef]]]:
    """Local models grouped by the base they load (in order of first appearance); endpoints are left out."""
    groups: dict[str, list[ModelRef]] = {}
    for r in refs:
        if r.kind != "endpoint":
            groups.setdefault(str(r.model), []).append(r)
    return list(groups.items())


class Endpoint:
    """An OpenAI-compatible endpoint: chat completions for answers, `/completions` log-probs when it has them."""

    def __init__(self, ref: ModelRef, timeout: float = 120.0, concurrency: int = 4):
        self.ref, self.timeout, self.concurrency = ref, timeout, concurrency
        self._logprobs: bool | None = None

    def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(f"{self.ref.url}{route}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
                                                 if os.environ.get("OPENAI_API_KEY") else {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            raise ModelLoadError(f"endpoint {self.ref.entry}: HTTP {exc.code} on {route}: "
                                 f"{exc.read()[:200].decode(errors='replace')}") from None
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise ModelLoadError(f"endpoint {self.ref.entry}: {getattr(exc, 'reason', exc)}") from None

    def _chat(self, prompt: Any, settings: dict[str, Any]) -> str:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        data = self._post("/chat/completions", {
            "model": self.ref.served_name, "messages": messages, "max_tokens": settings["max_new_tokens"],
            "temperature": settings["temperature"], "top_p": settings["top_p"]})
        try:
            return str(data["choices"][0]["message"]["content"]).strip()
        except (KeyError, IndexError, TypeError):
            raise ModelLoadError(f"endpoint {self.ref.entry}: not an OpenAI chat completion: {str(data)[:200]}") from None

    def generate(self, prompts: list[Any], settings: dict[str, Any]) -> list[str]:
        with ThreadPoolExecutor(self.concurrency) as pool:
            return list(pool.map(lambda p: self._chat(p, settings), prompts))

    def supports_logprobs(self) -> bool:
        """Whether `/v1/completions` echoes the prompt with per-token log-probs (what log-likelihood scoring needs)."""
        if self._logprobs is None:
            try:
                data = self._post("/completions", {"model": self.ref.served_name, "prompt": "Hello world",
                                                   "max_tokens": 0, "echo": True, "logprobs": 1})
                lp = data["choices"][0]["logprobs"]
                self._logprobs = bool(lp and lp.get("token_logprobs") and lp.get("text_offset") is not None)
            except (ModelLoadError, KeyError, IndexError, TypeError):
                self._logprobs = False
        return self._logprobs

    def loglikelihood(self, context: str, continuation: str) -> tuple[float, int]:
        """Sum of the continuation tokens' log-probs given the context, and their number."""
        data = self._post("/completions", {"model": self.ref.served_name, "prompt": context + continuation,
                                           "max_tokens": 0, "echo": True, "logprobs": 1})
        lp = data["choices"][0]["logprobs"]
        picked = [v for off, v in zip(lp["text_offset"], lp["token_logprobs"]) if off >= len(context) and v is not None]
        return float(sum(picked)), len(picked)
