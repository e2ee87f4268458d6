"""Dynamic mixed-adapter batching: a step-wise decode loop over one KV cache shared by every running request.

Why our own loop: transformers' `generate` runs one fixed batch to the end, and its continuous-batching manager
takes no per-request adapter. Here each step (1) admits waiting requests: they are prefilled together (left-padded,
each with its own adapter) and their caches are left-padded into the running batch, (2) runs ONE forward pass of one
new token for every running request, with PEFT's `adapter_names=[...]` (`"__base__"` for the base) so different
adapters share the pass. Padding is masked and every row carries its own position ids, so a greedy answer does not
depend on what else shares the batch. A request joins at the next step, never after the current batch finishes.

The loop runs in one thread; requests come from any thread and get their tokens through a `sink` callback.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable


PEFT_BASE = "__base__"


class QueueFull(RuntimeError):
    """More requests are waiting than the queue allows; try again after `retry_after` seconds."""

    def __init__(self, waiting: int, retry_after: int = 1):
        super().__init__(f"the server is busy: {waiting} requests are already waiting; retry after {retry_after} s")
        self.retry_after = retry_after


class GenerationFailed(RuntimeError):
    """The model failed while generating this request (its slot is freed; the server keeps serving)."""


@dataclass
class GenRequest:
    """One generation: prompt token ids, which adapter, how to sample, what to report."""

    prompt_ids: list[int]
    adapter: str = PEFT_BASE
    max_new_tokens: int = 16
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    ignore_eos: bool = False  # vLLM's extension: generate max_new_tokens whatever the model says (benchmarks)
    logprobs: int | None = None  # None: no logprobs; k >= 0: the chosen token's logprob and the top k alternatives
    prompt_logprobs: int | None = None  # same for the prompt's tokens (echo scoring)
    sink: Callable[[dict[str, Any]], None] | None = None  # called from the loop thread with each event
    # filled in while it runs
    token_ids: list[int] = field(default_factory=list)
    text: str = ""
    token_logprobs: list[dict[str, Any]] = field(default_factory=list)
    prompt_token_logprobs: list[dict[str, Any] | None] | None = None
    finish_reason: str | None = None
    error: str | None = None
    submitted_at: float = 0.0
    first_token_at: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    _emitted: int = 0
    _generator: Any = None

    def cancel(self) -> None:
        """Give up on this request (client went away): the loop frees its slot at the next step."""
        self.cancelled.set()


@dataclass
class _Row:
    req: GenRequest
    next_pos: int  # position id of the token fed next
    last_token: int


class Batcher:
    """Owns the running batch of an `Engine`; `submit` from any thread, tokens come back through each sink."""

    def __init__(self, engine: Any, max_batch_size: int = 16, max_queue: int = 256, serial: bool = False):
        self.engine = engine
        # serial: one request at a time with `set_adapter`, the way a single-adapter server works (the baseline)
        self.serial = serial
        self.max_batch_size = 1 if serial else max_batch_size
        self.max_queue = max_queue
        self._waiting: collections.deque[GenRequest] = collections.deque()
        self._rows: list[_Row] = []
        self._admitting = 0  # taken off the queue, being prefilled: they hold slots too
        self._cache = None  # DynamicCache of the running rows, left-padded to one length
        self._mask = None  # [rows, cache length] 1 = real token, 0 = padding
        self._cv = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.served = 0
        self.failed = 0
        self.steps = 0

    # ---- client side ----
    def load(self) -> dict[str, int]:
        with self._cv:
            return {"queue": len(self._waiting), "active": len(self._rows) + self._admitting, "served": self.served,
                    "failed": self.failed, "max_batch_size": self.max_batch_size, "max_queue": self.max_queue}

    def submit(self, req: GenRequest) -> GenRequest:
        """Queue a request; raises QueueFull at once when more than `max_queue` would wait."""
        with self._cv:
            if self._stopping:
                raise GenerationFailed("the engine is shutting down")
            free = self.max_batch_size - len(self._rows) - self._admitting
            if len(self._waiting) - free >= self.max_queue:
                raise QueueFull(len(self._waiting))
            req.submitted_at = time.perf_counter()
            self._waiting.append(req)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="jupyter-ft-batcher", daemon=True)
                self._thread.start()
            self._cv.notify_all()
        return req

    def run(self, req: GenRequest, timeout: float | None = None) -> GenRequest:
        """Submit and wait for the whole answer (the synchronous path)."""
        self.submit(req)
        if not req.done.wait(timeout):
            req.cancel()
            raise TimeoutError(f"generation did not finish within {timeout} s")
        if req.error:
            raise GenerationFailed(req.error)
        return req

    def warm_up(self) -> None:
        """One tiny generation, so the first real request does not pay for lazy initialisation."""
        self.run(GenRequest(prompt_ids=[self.engine.tokenizer.pad_token_id or 0] * 2, max_new_tokens=2,
                            ignore_eos=True))
        with self._cv:
            self.served = 0

    def uses(self, adapter: str) -> bool:
        with self._cv:
            return any(r.adapter == adapter for r in self._waiting) or any(
                r.req.adapter == adapter for r in self._rows)

    def drain(self, adapter: str, timeout: float = 600.0) -> None:
        """Wait until no waiting or running request uses `adapter` (before it is unloaded)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self.uses(adapter):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"requests for {adapter!r} still running after {timeout} s")
                self._cv.wait(min(left, 0.5))

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    # ---- the loop ----
    def _loop(self) -> None:
        resizer = _thread_resizer()
        while True:
            if resizer is not None and (line := resizer.tick()):  # in this thread: the one torch computes in
                print(f"[jupyter_ft.serve] {line}", flush=True)
            with self._cv:
                while not self._waiting and not self._rows and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    for req in [*self._waiting, *(r.req for r in self._rows)]:
                        self._fail(req, "the engine shut down")
                    self._waiting.clear()
                    self._rows = []
                    return
                while self._waiting and self._waiting[0].cancelled.is_set():
                    self._finish(self._waiting.popleft(), "cancelled")
                free = self.max_batch_size - len(self._rows)
                newcomers = []
                while self._waiting and len(newcomers) < free:
                    req = self._waiting.popleft()
                    if req.cancelled.is_set():
                        self._finish(req, "cancelled")
                    else:
                        newcomers.append(req)
                self._admitting = len(newcomers)
            with self.engine.model_lock:
                self._drop(lambda row: row.req.cancelled.is_set(), "cancelled")
                if newcomers:
                    try:
                        self._prefill(newcomers)
                    except Exception as exc:  # these requests fail; the running batch goes on
                        for req in newcomers:
                            self._fail(req, f"{type(exc).__name__}: {exc}")
                    with self._cv:  # they are rows now (or finished): no longer counted twice
                        self._admitting = 0
                if self._rows:
                    try:
                        self._decode()
                    except Exception as exc:  # the step failed for everyone in it: free all their slots
                        for row in self._rows:
                            self._fail(row.req, f"{type(exc).__name__}: {exc}")
                        self._reset()
            with self._cv:
                self._admitting = 0
                self._cv.notify_all()

    def _forward(self, input_ids, attention_mask, position_ids, cache, adapters: list[str], logits_to_keep: int):
        import torch
        from peft import PeftModel

        kwargs: dict[str, Any] = dict(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                      cache=cache, use_cache=True, logits_to_keep=logits_to_keep)
        model = self.engine.model
        with torch.inference_mode():
            if isinstance(model, PeftModel):
                if self.serial and adapters[0] != PEFT_BASE:
                    model.set_adapter(adapters[0])
                    return model(**kwargs)
                if all(a == PEFT_BASE for a in adapters):
                    with model.disable_adapter():
                        return model(**kwargs)
                return model(**kwargs, adapter_names=adapters)
            return model(**kwargs)

    def _prefill(self, reqs: list[GenRequest]) -> None:
        """Run the newcomers' prompts in one pass, sample each one's first token, merge their caches in."""
        import torch

        device = self.engine.device
        pad = self.engine.tokenizer.pad_token_id or 0
        longest = max(len(r.prompt_ids) for r in reqs)
        ids = torch.full((len(reqs), longest), pad, dtype=torch.long)
        mask = torch.zeros((len(reqs), longest), dtype=torch.long)
        for i, r in enumerate(reqs):
            n = len(r.prompt_ids)
            ids[i, longest - n:] = torch.tensor(r.prompt_ids, dtype=torch.long)
            mask[i, longest - n:] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        want_prompt = any(r.prompt_logprobs is not None for r in reqs)
        out = self._forward(ids.to(device), mask.to(device), pos.to(device), None, [r.adapter for r in reqs],
                            0 if want_prompt else 1)
        logits = out.logits.float()
        for i, r in enumerate(reqs):
            if r.prompt_logprobs is not None:
                r.prompt_token_logprobs = self._prompt_logprobs(logits[i, longest - len(r.prompt_ids):], r)
                self._emit(r, {"kind": "prompt_logprobs", "logprobs": r.prompt_token_logprobs})
        rows, keep = [], []
        for i, r in enumerate(reqs):
            if r.max_new_tokens <= 0:  # scoring only (echo with max_tokens 0)
                self._finish(r, "length")
                continue
            tok = self._sample(logits[i, -1], r)
            row = _Row(req=r, next_pos=len(r.prompt_ids), last_token=tok)
            if not self._accept(row, tok, logits[i, -1]):
                rows.append(row)
                keep.append(i)
        if not keep:
            return
        idx = torch.tensor(keep, device=device)
        layers = [(k[idx], v[idx]) for k, v, *_ in out.cache]
        with self._cv:  # rows and admitting change together, so `submit` never counts a slot twice
            self._merge(layers, mask[keep].to(device), rows)
            self._admitting = 0

    def _merge(self, layers, mask, rows: list[_Row]) -> None:
        """Left-pad the running cache and the newcomers' cache to one length and stack them."""
        import torch
        from transformers import DynamicCache

        if not self._rows:
            self._cache, self._mask, self._rows = DynamicCache(ddp_cache_data=layers), mask, rows
            return
        old_len, new_len = self._mask.shape[1], mask.shape[1]
        width = max(old_len, new_len)

        def lpad(t, length):  # pad dim -2 (sequence) on the left for k/v, dim 1 for the mask
            if length == width:
                return t
            if t.dim() == 2:
                return torch.nn.functional.pad(t, (width - length, 0))
            return torch.nn.functional.pad(t, (0, 0, width - length, 0))

        merged = [(torch.cat([lpad(ok, old_len), lpad(nk, new_len)]), torch.cat([lpad(ov, old_len), lpad(nv, new_len)]))
                  for (ok, ov, *_), (nk, nv) in zip(self._cache, layers)]
        self._cache = DynamicCache(ddp_cache_data=merged)
        self._mask = torch.cat([lpad(self._mask, old_len), lpad(mask, new_len)])
        self._rows = self._rows + rows

    def _decode(self) -> None:
        """One new token for every running request, in one forward pass."""
        import torch

        device = self.engine.device
        ids = torch.tensor([[r.last_token] for r in self._rows], dtype=torch.long, device=device)
        pos = torch.tensor([[r.next_pos] for r in self._rows], dtype=torch.long, device=device)
        self._mask = torch.cat([self._mask, torch.ones((len(self._rows), 1), dtype=self._mask.dtype, device=device)], 1)
        out = self._forward(ids, self._mask, pos, self._cache, [r.req.adapter for r in self._rows], 1)
        self._cache = out.cache
        self.steps += 1
        logits = out.logits[:, -1].float()
        finished = set()
        for i, row in enumerate(self._rows):
            row.next_pos += 1
            tok = self._sample(logits[i], row.req)
            if self._accept(row, tok, logits[i]):
                finished.add(i)
        if finished:
            done_rows = {id(self._rows[i]) for i in finished}
            self._drop(lambda row: id(row) in done_rows, None)

    # ---- batch bookkeeping ----
    def _drop(self, which: Callable[[_Row], bool], reason: str | None) -> None:
        """Remove rows from the batch (finished or cancelled) and trim padding no row needs any more."""
        import torch

        gone = [i for i, row in enumerate(self._rows) if which(row)]
        if not gone:
            return
        for i in gone:
            if reason is not None:
                self._finish(self._rows[i].req, reason)
        keep = [i for i in range(len(self._rows)) if i not in set(gone)]
        if not keep:
            self._reset()
            return
        idx = torch.tensor(keep, device=self._mask.device)
        self._mask = self._mask[idx]
        start = int((self._mask.cumsum(1) == 0).sum(1).min())  # columns that are padding in every row
        self._mask = self._mask[:, start:]
        for layer in self._cache.layers:
            layer.keys = layer.keys[idx, :, start:]
            layer.values = layer.values[idx, :, start:]
        self._rows = [self._rows[i] for i in keep]

    def _reset(self) -> None:
        self._rows, self._cache, self._mask = [], None, None

    # ---- per request ----
    def _sample(self, logits, req: GenRequest) -> int:
        import torch

        if req.temperature <= 0:
            return int(torch.argmax(logits))
        if req._generator is None:
            req._generator = torch.Generator(device=logits.device)
            req._generator.manual_seed(req.seed if req.seed is not None else int.from_bytes(__import__("os").urandom(6), "big"))
        probs = torch.softmax(logits / req.temperature, dim=-1)
        if req.top_p < 1.0:
            sorted_p, order = torch.sort(probs, descending=True)
            cum = torch.cumsum(sorted_p, -1)
            cut = cum - sorted_p >= req.top_p  # tokens after the nucleus is complete
            sorted_p[cut] = 0.0
            probs = torch.zeros_like(probs).scatter_(-1, order, sorted_p)
        return int(torch.multinomial(probs, 1, generator=req._generator))

    def _top(self, logprobs, k: int) -> dict[str, float]:
        import torch

        if k <= 0:
            return {}
        vals, idx = torch.topk(logprobs, min(k, logprobs.shape[-1]))
        tok = self.engine.tokenizer
        return {tok.decode([int(i)]): float(v) for v, i in zip(vals, idx)}

    def _prompt_logprobs(self, logits, req: GenRequest) -> list[dict[str, Any] | None]:
        """Each prompt token's logprob given the tokens before it (the first has none), as echo scoring needs."""
        import torch

        lp = torch.log_softmax(logits, -1)
        out: list[dict[str, Any] | None] = [None]
        k = req.prompt_logprobs or 0
        for j in range(1, len(req.prompt_ids)):
            t = req.prompt_ids[j]
            out.append({"token_id": t, "logprob": float(lp[j - 1, t]), "top": self._top(lp[j - 1], k)})
        return out

    def _eos_ids(self) -> set[int]:
        ids = getattr(self, "_eos", None)
        if ids is None:
            ids = set()
            tok = self.engine.tokenizer
            if tok.eos_token_id is not None:
                ids.add(int(tok.eos_token_id))
            gen = getattr(self.engine.model, "generation_config", None)
            e = getattr(gen, "eos_token_id", None)
            ids.update(int(x) for x in (e if isinstance(e, (list, tuple)) else [e]) if x is not None)
            self._eos = ids
        return ids

    def _accept(self, row: _Row, tok: int, logits) -> bool:
        """Record the token just sampled for a row; True when the request is finished."""
        import torch

        req = row.req
        if req.first_token_at is None:
            req.first_token_at = time.perf_counter()
        entry = None
        if req.logprobs is not None:
            lp = torch.log_softmax(logits, -1)
            entry = {"token_id": tok, "logprob": float(lp[tok]), "top": self._top(lp, req.logprobs)}
        if tok in self._eos_ids() and not req.ignore_eos:
            self._finish(req, "stop")
            return True
        req.token_ids.append(tok)
        if entry is not None:
            req.token_logprobs.append(entry)
        row.last_token = tok
        text = self.engine.tokenizer.decode(req.token_ids, skip_special_tokens=True)
        reason = None
        for s in req.stop:
            at = text.find(s)
            if s and at >= 0:
                text, reason = text[:at], "stop"
        if reason is None and (len(req.token_ids) >= req.max_new_tokens
                               or row.next_pos + 1 >= self.engine.max_positions):
            reason = "length"
        req.text = text
        safe = len(text) if reason else len(text) - self._held_back(text, req.stop)
        delta = text[req._emitted:safe] if safe > req._emitted else ""
        req._emitted = max(req._emitted, safe)
        self._emit(req, {"kind": "token", "delta": delta, "token_id": tok, "logprob": entry})
        if reason:
            self._finish(req, reason)
            return True
        return False

    @staticmethod
    def _held_back(text: str, stops: list[str]) -> int:
        """Characters at the end not to stream yet: a partial character, or a possible start of a stop string."""
        hold = 1 if text.endswith("\ufffd") else 0
        for s in stops:
            for n in range(min(len(s) - 1, len(text)), 0, -1):
                if text.endswith(s[:n]):
                    hold = max(hold, n)
                    break
        return hold

    def _emit(self, req: GenRequest, event: dict[str, Any]) -> None:
        if req.sink is not None:
            try:
                req.sink(event)
            except Exception:  # a sink whose client went away must not stop the loop
                req.cancel()

    def _finish(self, req: GenRequest, reason: str) -> None:
        if req.done.is_set():
            return
        req.finish_reason = reason
        if reason != "cancelled":
            with self._cv:
                self.served += 1
        tail = req.text[req._emitted:] if reason != "cancelled" else ""  # text held back for a possible stop string
        req._emitted = len(req.text)
        self._emit(req, {"kind": "done", "finish_reason": reason, "text": req.text, "delta": tail})
        req.done.set()

    def _fail(self, req: GenRequest, message: str) -> None:
        if req.done.is_set():
            return
        req.error = message
        with self._cv:
            self.failed += 1
        self._emit(req, {"kind": "error", "message": message})
        req.done.set()


def _thread_resizer():
    """The endpoint process keeps its torch threads at the rule of `jupyter_ft.core.threads` as jobs and endpoints
    come and go (only where its launcher chose the count by that rule; an engine in a notebook is left alone)."""
    import torch

    from jupyter_ft.core.threads import Resizer

    return Resizer.from_env(torch.get_num_threads, torch.set_num_threads)
