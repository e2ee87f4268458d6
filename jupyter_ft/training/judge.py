"""RLAIF: a judge model scores completions by a rubric, and that score is a GRPO reward.

Two kinds of judge, one interface (`score(pairs) -> raw scores`):
- `OpenAIJudge`: any OpenAI-compatible `/chat/completions` endpoint (hosted API, vLLM, Ollama, jupyter_ft's own
  endpoint). Requests run `concurrency` at a time, each bounded by `timeout_s` and retried `max_retries` times
  (connection failure, timeout, HTTP 429/5xx, an answer with no parseable score) with back-off; then the job
  fails with the reason. A 4xx such as a wrong model name or key fails at once: retrying cannot fix it.
- `LocalJudge`: an HF causal LM loaded in the job process. It is not asked to write a number; the score is the
  expectation over the rubric's scale of the probability it gives each score (G-Eval style), which is
  deterministic and always parseable.

`JudgeReward` wraps either as a reward function: normalises scores to 0..1, caches them by (prompt, completion)
in memory and in the job folder (a resumed attempt does not ask again), and never turns a failure into a zero.
The HTTP client is httpx (a dependency of jupyterlab, declared here too): per-request timeouts, pooled connections.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

from jupyter_ft.core.specs import JudgeSpec

from .errors import JobInputError
from .rewards import as_text

BACKOFF_S = 0.5


class JudgeError(JobInputError):
    """The judge could not give a score after bounded retries (unreachable, timed out, unparseable, refused)."""


# --- prompts and parsing ----------------------------------------------------------------------------------------

def render_prompt(prompt: Any) -> str:
    """A prompt (text or conversation) as text for the judge."""
    if isinstance(prompt, list) and prompt and all(isinstance(m, dict) for m in prompt):
        return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in prompt)
    return as_text(prompt)


def judge_messages(spec: JudgeSpec, prompt: Any, completion: str) -> list[dict[str, str]]:
    rubric = spec.rubric.replace("{min}", str(spec.min_score)).replace("{max}", str(spec.max_score))
    system = (f"You are a strict evaluator. {rubric}\n"
              f"Reply with the score only: a whole number from {spec.min_score} to {spec.max_score}.")
    user = f"Prompt:\n{render_prompt(prompt)}\n\nResponse to rate:\n{completion}\n\nScore ({spec.min_score}-{spec.max_score}):"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_NUM = r"[-+]?\d+(?:\.\d+)?"
_LABELLED = re.compile(rf"(?:score|rating|grade)\s*(?:is|of|=|:)?\s*\**\s*({_NUM})", re.IGNORECASE)
_FRACTION = re.compile(rf"({_NUM})\s*(?:/|out of)\s*({_NUM})", re.IGNORECASE)
_LEADING = re.compile(rf"^\W*({_NUM})\b")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def parse_score(text: str, lo: float, hi: float) -> float | None:
    """The score in a judge's answer, or None. Tries, in order: a JSON object with `score`/`rating`; 'score: 7'
    style; '7/10' or '7 out of 10' (scaled when the denominator differs from `hi`); a leading number; the only
    in-range number in the text. Out-of-range values and ambiguous answers give None."""
    text = _THINK.sub("", text or "").strip()
    if not text:
        return None

    def ok(v: float | None) -> float | None:
        return v if v is not None and lo <= v <= hi else None

    try:
        obj = json.loads(text[text.index("{"): text.rindex("}") + 1]) if "{" in text else None
    except ValueError:
        obj = None
    if isinstance(obj, dict):
        for key in ("score", "rating", "grade"):
            if isinstance(obj.get(key), (int, float)) and not isinstance(obj.get(key), bool):
                return ok(float(obj[key]))
    m = _LABELLED.search(text)
    if m:
        return ok(float(m.group(1)))
    m = _FRACTION.search(text)
    if m:
        v, den = float(m.group(1)), float(m.group(2))
        if den == hi:
            return ok(v)
        if den > 0 and 0 <= v <= den:
            return ok(lo + (hi - lo) * v / den)
        return None
    m = _LEADING.match(text)
    if m:
        return ok(float(m.group(1)))
    found = {float(x) for x in re.findall(_NUM, text)}
    in_range = [v for v in found if lo <= v <= hi]
    return in_range[0] if len(in_range) == 1 else None


def _short(text: str, limit: int = 80) -> str:
    text = text.replace("\n", "\\n")
    return repr(text if len(text) <= limit else text[:limit] + "…")


# --- judges -----------------------------------------------------------------------------------------------------

class OpenAIJudge:
    """Scores through an OpenAI-compatible chat endpoint."""

    def __init__(self, spec: JudgeSpec, api_key: str | None = None):
        import os

        import httpx

        self.spec = spec
        self.url = spec.base_url.rstrip("/") + "/chat/completions"
        key = api_key
        if key is None and spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise JudgeError(f"judge: environment variable {spec.api_key_env} (api_key_env) is not set in the job's "
                                 "environment")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(timeout=httpx.Timeout(spec.timeout_s), headers=headers)
        self._httpx = httpx

    def close(self) -> None:
        self.client.close()

    def score(self, pairs: Sequence[tuple[Any, str]]) -> list[float]:
        if len(pairs) <= 1:
            return [self._ask(p, c) for p, c in pairs]
        with ThreadPoolExecutor(max_workers=min(self.spec.concurrency, len(pairs)),
                                thread_name_prefix="judge") as pool:
            futures = [pool.submit(self._ask, p, c) for p, c in pairs]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _ask(self, prompt: Any, completion: str) -> float:
        spec, httpx = self.spec, self._httpx
        body = {"model": spec.model, "messages": judge_messages(spec, prompt, completion),
                "temperature": spec.temperature, "max_tokens": spec.max_tokens}
        attempts = spec.max_retries + 1
        reason = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(BACKOFF_S * 2 ** (attempt - 1), 10.0))
            try:
                r = self.client.post(self.url, json=body)
            except httpx.TimeoutException:
                reason = f"timed out (no answer within timeout_s={spec.timeout_s:g} s)"
                continue
            except httpx.TransportError as exc:
                reason = f"is unreachable ({type(exc).__name__}: {exc})"
                continue
            if r.status_code in (408, 409, 425, 429) or r.status_code >= 500:
                reason = f"answered HTTP {r.status_code}: {_short(r.text, 200)}"
                continue
            if r.status_code >= 400:
                raise JudgeError(f"judge {spec.model!r} at {self.url} refused the request: HTTP {r.status_code}: "
                                 f"{_short(r.text, 300)} (check model, api_key_env and base_url)")
            try:
                text = r.json()["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                reason = f"answered with something that is not an OpenAI chat completion: {_short(r.text, 200)}"
                continue
            value = parse_score(text, spec.min_score, spec.max_score)
            if value is None:
                reason = (f"answered unparseably: {_short(text, 200)} (expected a score from {spec.min_score} "
                          f"to {spec.max_score})")
                continue
            return value
        raise JudgeError(f"judge {spec.model!r} at {self.url} {reason}; gave up after {attempts} attempt(s) "
                         f"(prompt {_short(render_prompt(prompt))}, completion {_short(completion)})")


class LocalJudge:
    """Scores with a local causal LM: expected score under its probabilities for each value of the scale."""

    def __init__(self, spec: JudgeSpec, device: str = "cpu", batch_size: int = 16):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.spec, self.device, self.batch_size = spec, device, batch_size
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(spec.model)
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(spec.model, dtype=dtype).to(device).eval()
        except Exception as exc:
            raise JudgeError(f"judge: cannot load local model {spec.model!r}: {type(exc).__name__}: {exc}") from None
        self.values = list(range(spec.min_score, spec.max_score + 1))
        self.value_ids = [self.tokenizer.encode(str(v), add_special_tokens=False) for v in self.values]
        self._torch = torch

    def close(self) -> None:
        pass

    def _context_ids(self, prompt: Any, completion: str) -> list[int]:
        messages = judge_messages(self.spec, prompt, completion)
        if self.tokenizer.chat_template:
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                      return_dict=False)
        text = "\n\n".join(m["content"] for m in messages) + " "
        return self.tokenizer.encode(text)

    def score(self, pairs: Sequence[tuple[Any, str]]) -> list[float]:
        torch = self._torch
        seqs: list[tuple[list[int], int]] = []  # (ids, length of the score's tokens)
        for p, c in pairs:
            ctx = list(self._context_ids(p, c))
            seqs.extend((ctx + ids, len(ids)) for ids in self.value_ids)
        logps: list[float] = []
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with torch.inference_mode():
            for i in range(0, len(seqs), self.batch_size):
                chunk = seqs[i:i + self.batch_size]
                width = max(len(ids) for ids, _ in chunk)
                input_ids = torch.full((len(chunk), width), pad, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for j, (ids, _) in enumerate(chunk):
                    input_ids[j, :len(ids)] = torch.tensor(ids)
                    mask[j, :len(ids)] = 1
                logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)).logits
                lp = torch.log_softmax(logits.float(), dim=-1).cpu()
                for j, (ids, k) in enumerate(chunk):
                    n = len(ids)
                    logps.append(sum(float(lp[j, t - 1, ids[t]]) for t in range(n - k, n)))
        out = []
        per = len(self.values)
        for i in range(len(pairs)):
            w = torch.softmax(torch.tensor(logps[i * per:(i + 1) * per]), dim=0)
            out.append(float(sum(float(wi) * v for wi, v in zip(w, self.values))))
        return out


def make_judge(spec: JudgeSpec, device: str = "cpu"):
    return OpenAIJudge(spec) if spec.kind == "openai" else LocalJudge(spec, device)


# --- the reward ---------------------------------------------------------------------------------------------------

class JudgeReward:
    """The judge as a GRPO reward function: scores normalised to 0..1, cached by (prompt, completion)."""

    def __init__(self, spec: JudgeSpec, *, cache_path: Path | None = None, device: str = "cpu", judge: Any = None):
        self.spec = spec
        self.__name__ = spec.name
        self.name = spec.name
        self.weight = spec.weight
        self.judge = judge or make_judge(spec, device)
        identity = json.dumps([spec.kind, spec.model, spec.base_url, spec.rubric, spec.min_score, spec.max_score])
        self._salt = hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.cache: dict[str, float] = {}
        self.cache_path = cache_path
        self._lock = threading.Lock()
        self.requests = 0
        self.hits = 0
        if cache_path and cache_path.is_file():
            for line in cache_path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    self.cache[rec["key"]] = float(rec["score"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill: ignore it

    def key(self, prompt: Any, completion: str) -> str:
        blob = json.dumps([self._salt, render_prompt(prompt), completion], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    def __repr__(self) -> str:
        return f"<judge reward {self.name} ({self.spec.kind} {self.spec.model}) weight {self.weight:g}>"

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **row: Any) -> list[float]:
        texts = [as_text(c) for c in completions]
        prompts = list(prompts) if prompts is not None else [""] * len(texts)
        keys = [self.key(p, c) for p, c in zip(prompts, texts)]
        todo: dict[str, tuple[Any, str]] = {}
        for k, p, c in zip(keys, prompts, texts):
            if k not in self.cache and k not in todo:
                todo[k] = (p, c)
        t0 = time.time()
        if todo:
            raw = self.judge.score(list(todo.values()))
            lo, hi = self.spec.min_score, self.spec.max_score
            fresh = {k: (v - lo) / (hi - lo) for k, v in zip(todo, raw)}
            with self._lock:
                self.cache.update(fresh)
                if self.cache_path:
                    with self.cache_path.open("a") as fh:
                        fh.writelines(json.dumps({"key": k, "score": v}) + "\n" for k, v in fresh.items())
        self.requests += len(todo)
        self.hits += len(texts) - len(todo)
        log_metric = row.get("log_metric")
        if callable(log_metric):
            log_metric(f"{self.name}/cache_hit_rate", (len(texts) - len(todo)) / max(1, len(texts)))
            log_metric(f"{self.name}/seconds", time.time() - t0)
        return [self.cache[k] for k in keys]
