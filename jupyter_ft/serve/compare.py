"""Answer the same prompts with several models: local ones through `Engine` (each base loaded once per process,
its adapters switched per request), endpoints through the OpenAI-compatible chat API.

Runs in whatever thread calls it; the compare widget and `%%ft_chat` call it from a worker thread so the kernel
stays usable while torch loads and generates.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any, Callable

from jupyter_ft.core.registry.model_refs import ModelRef

from jupyter_ft.serve.engine import BASE, Engine

_engines: dict[tuple[str, str], Engine] = {}
_engines_lock = threading.Lock()


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0

    def __post_init__(self):
        if self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens: must be > 0, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature: must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p: must be in (0, 1], got {self.top_p}")

    def describe(self) -> str:
        mode = "greedy" if self.temperature == 0 else f"sampling, temperature {self.temperature:g}, top_p {self.top_p:g}"
        return f"max_new_tokens {self.max_new_tokens} · {mode}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def engine_for(model: str) -> Engine:
    """The process-wide engine of a base model (loaded on first use)."""
    device = _device()
    with _engines_lock:
        key = (model, device)
        if key not in _engines:
            _engines[key] = Engine(model, device=device)
        return _engines[key]


def _adapter_name(engine: Engine, path: str) -> str:
    """The engine's name for the adapter at `path`, loading it on first use."""
    with _engines_lock:
        for name, p in engine.adapters.items():
            if p == path:
                return name
        name = f"adapter{len(engine.adapters) + 1}"
        engine.add_adapter(name, path)
        return name


def _endpoint_chat(ref: ModelRef, prompt: Any, s: GenerationSettings, timeout: float = 120.0) -> dict[str, Any]:
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    body = {"model": ref.served_name or "default", "messages": messages, "max_tokens": s.max_new_tokens,
            "temperature": s.temperature, "top_p": s.top_p}
    req = urllib.request.Request(f"{ref.url}/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            data = json.loads(r.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{ref.url}: HTTP {exc.code}: {exc.read()[:300].decode(errors='replace')}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise RuntimeError(f"{ref.url}: {getattr(exc, 'reason', exc)}") from None
    try:
        text = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise RuntimeError(f"{ref.url}: not an OpenAI chat completion: {str(data)[:200]}") from None
    usage = data.get("usage") or {}
    return {"text": text.strip(), "completion_tokens": usage.get("completion_tokens")}


class Comparer:
    """Generates each (prompt, model) answer; `run` reports each as it lands through `on_answer`."""

    def __init__(self, refs: list[ModelRef], settings: GenerationSettings | None = None):
        self.refs = refs
        self.settings = settings or GenerationSettings()

    def load(self, on_status: Callable[[str], None] = lambda s: None) -> None:
        """Load every local base and adapter before the first answer (the slow part on a cold kernel)."""
        for ref in self.refs:
            if ref.kind in ("base", "adapter", "model"):
                on_status(f"loading {ref.model}…")
                engine = engine_for(ref.model)
                if ref.kind == "adapter":
                    on_status(f"loading adapter {ref.label}…")
                    _adapter_name(engine, ref.adapter)

    def answer(self, ref: ModelRef, prompt: Any) -> dict[str, Any]:
        t = time.time()
        s = self.settings
        if ref.kind == "endpoint":
            out = _endpoint_chat(ref, prompt, s)
        else:
            engine = engine_for(ref.model)
            name = _adapter_name(engine, ref.adapter) if ref.kind == "adapter" else BASE
            out = engine.generate(prompt, name, max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p)
        return {"model": ref.label, "text": out["text"], "completion_tokens": out.get("completion_tokens"),
                "seconds": time.time() - t, "error": None}

    def run(self, prompts: list[Any], on_answer: Callable[[int, int, dict[str, Any]], None],
            on_status: Callable[[str], None] = lambda s: None, stop: threading.Event | None = None) -> None:
        """Answer every prompt with every model; a model that fails gets its error in its cells, the rest go on."""
        failed: dict[int, str] = {}
        try:
            self.load(on_status)
        except Exception as exc:  # reported per cell below, by whichever model it concerns
            on_status(f"loading failed: {type(exc).__name__}: {exc}")
        for i, prompt in enumerate(prompts):
            for j, ref in enumerate(self.refs):
                if stop is not None and stop.is_set():
                    return
                on_status(f"prompt {i + 1}/{len(prompts)} · {ref.label}…")
                if j in failed:
                    on_answer(i, j, {"model": ref.label, "text": "", "error": failed[j], "seconds": 0.0})
                    continue
                try:
                    result = self.answer(ref, prompt)
                except Exception as exc:
                    failed[j] = f"{type(exc).__name__}: {exc}"
                    result = {"model": ref.label, "text": "", "error": failed[j], "seconds": 0.0}
                on_answer(i, j, result)
