"""Answers for the generation-based evaluators: batched, left-padded `generate`, cached per (model, sample,
generation settings).

Prompts are sorted by length so a batch holds prompts of similar length (less padding), padded on the left so
every row's answer starts at the same position, and decoded from that position. The cache is one append-only
JSON-lines file in the workspace (`<root>/eval_cache/answers.jsonl`), keyed by the model's fingerprint, the
rendered prompt and the settings: a second evaluation of the same models (say, with one more evaluator) and a
resumed one read their answers back instead of generating them again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from jupyter_ft.core.evaluate.rows import prompt_text


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def render(tokenizer: Any, prompt: Any, chat_template: bool) -> str:
    """The text a local model continues: the chat template with the generation prompt, or the plain prompt."""
    if chat_template:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return prompt_text(prompt)


def generate_batched(model: Any, tokenizer: Any, texts: Sequence[str], settings: dict[str, Any], device: str,
                     chat_template: bool, seed: int = 0,
                     on_batch: Callable[[list[int], list[str]], None] | None = None) -> list[str]:
    """Answer every rendered prompt, `settings['batch_size']` at a time (left padding). `on_batch(indices, texts)`
    sees each batch's answers as soon as they exist (the caller caches them)."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
    out: list[str | None] = [None] * len(texts)
    bs = settings["batch_size"]
    sample = settings["temperature"] > 0
    kwargs: dict[str, Any] = dict(max_new_tokens=settings["max_new_tokens"], do_sample=sample,
                                  pad_token_id=tokenizer.pad_token_id)
    if sample:
        kwargs.update(temperature=settings["temperature"], top_p=settings["top_p"])
    else:  # greedy: the model's own sampling defaults would only warn
        kwargs.update(temperature=None, top_p=None, top_k=None)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            batch = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True,
                              add_special_tokens=not chat_template).to(device)
            if sample:
                torch.manual_seed(seed + start)
            with torch.inference_mode():
                gen = model.generate(**batch, **kwargs)
            new = gen[:, batch["input_ids"].shape[1]:]
            answers = [tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]
            for i, a in zip(idx, answers):
                out[i] = a
            if on_batch:
                on_batch(idx, answers)
    finally:
        tokenizer.padding_side = side
    return [a or "" for a in out]


def generate_one_by_one(model: Any, tokenizer: Any, texts: Sequence[str], settings: dict[str, Any], device: str,
                        chat_template: bool) -> list[str]:
    """The per-sample `generate` loop (the baseline `bench/eval_generation.py` measures batching against)."""
    return generate_batched(model, tokenizer, texts, {**settings, "batch_size": 1}, device, chat_template)


class AnswerCache:
    """Answers by (model fingerprint, rendered prompt, generation settings), in an append-only file."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._answers: dict[str, str] = {}
        if path.is_file():
            with path.open(encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    try:
                        d = json.loads(line)
                        self._answers[d["key"]] = d["answer"]
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a killed process
        self.hits = 0
        self.generated = 0

    @staticmethod
    def key(model: str, text: str, settings: dict[str, Any], sample: int | None = None) -> str:
        s = {k: settings[k] for k in ("max_new_tokens", "temperature", "top_p")}
        s["chat_template"] = settings.get("chat_template")
        if settings["temperature"] > 0:
            s["seed"], s["sample"] = settings.get("seed"), sample  # sampled answers belong to their draw
        return hashlib.sha256(json.dumps([model, text, s], sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> str | None:
        return self._answers.get(key)

    def put(self, items: dict[str, str]) -> None:
        if not items:
            return
        self._answers.update(items)
        data = "".join(json.dumps({"key": k, "answer": a}) + "\n" for k, a in items.items()).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
