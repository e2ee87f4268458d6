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

Evaluation's LLM-as-judge (`jupyter_ft.evaluation.judges`: pairwise verdicts, rubric scores) goes through the same two
clients: `OpenAIJudge.ask` sends any chat request with its own parser under the same retries and concurrency bound,
`LocalJudge.choose` picks the likeliest of a few fixed answers, and `JudgeCache` is the on-disk cache both use.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Generic, Sequence, TypeVar

from jupyter_ft.core.spec.train import JudgeSpec

from jupyter_ft.training.errors import JobInputError
from jupyter_ft.training.text import as_text

BACKOFF_S = 0.5


class JudgeError(JobInputError):
    """The judge could not give a score after bounded retries (unreachable, timed out, unparseable, refused).
    `unparseable` is True when the judge answered but never in the expected form: that sample alone failed, the
    judge itself works (an evaluation records it against the sample and goes on)."""

    def __init__(self, message: str, *, unparseable: bool = False):
        super().__init__(message)
        self.unparseable = unparseable


T = TypeVar("T")


@dataclass
class JudgeRequest(Generic[T]):
    """One chat request to a judge: `parse` turns its answer into a value (None = unparseable, asked again);
    `expected` says what a parseable answer looks like and `what` names the item, both for error messages."""

    messages: list[dict[str, str]]
    parse: Callable[[str], T | None]
    expected: str
    what: str


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
        spec = self.spec
        requests = [JudgeRequest(judge_messages(spec, p, c), lambda t: parse_score(t, spec.min_score, spec.max_score),
                                 f"a score from {spec.min_score} to {spec.max_score}",
                                 f"prompt {_short(render_prompt(p))}, completion {_short(c)}") for p, c in pairs]
        out = self.ask(requests)
        for v in out:
            if isinstance(v, JudgeError):
                raise v
        return out  # type: ignore[return-value]

    def ask(self, requests: Sequence[JudgeRequest[T]]) -> list[T | JudgeError]:
        """Send each request (`concurrency` at a time) and parse its answer. An answer that stays unparseable after
        the retries comes back as a `JudgeError` in its place; any other failure (unreachable, timed out, refused)
        raises, since every other request would fail the same way."""
        if len(requests) <= 1:
            return [self._ask_one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.spec.concurrency, len(requests)),
                                thread_name_prefix="judge") as pool:
            futures = [pool.submit(self._ask_one, r) for r in requests]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _ask_one(self, request: JudgeRequest[T]) -> T | JudgeError:
        try:
            return self._chat(request)
        except JudgeError as exc:
            if exc.unparseable:
                return exc
            raise

    def _chat(self, request: JudgeRequest[T]) -> T:
        spec, httpx = self.spec, self._httpx
        body = {"model": spec.model, "messages": request.messages,
                "temperature": spec.temperature, "max_tokens": spec.max_tokens}
        attempts = spec.max_retries + 1
        reason, unparseable = "", False
        for attempt in range(attempts):
            if attempt:
                time.sleep(min(BACKOFF_S * 2 ** (attempt - 1), 10.0))
            unparseable = False
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
            value = request.parse(text)
            if value is None:
                reason, unparseable = f"answered unparseably: {_short(text, 200)} (expected {request.expected})", True
                continue
            return value
        raise JudgeError(f"judge {spec.model!r} at {self.url} {reason}; gave up after {attempts} attempt(s) "
                         f"({request.what})", unparseable=unparseable)


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
        self._torch = torch

    def close(self) -> None:
        pass

    def _chat_ids(self, messages: list[dict[str, str]], prefix: str = "") -> list[int]:
        """The judge's context for `messages`: its chat template with the generation prompt (plain text joined by
        blank lines when it has none), then `prefix` (e.g. 'Verdict: [[')."""
        if self.tokenizer.chat_template:
            ids = list(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                          return_dict=False))
            return ids + (self.tokenizer.encode(prefix, add_special_tokens=False) if prefix else [])
        text = "\n\n".join(m["content"] for m in messages) + " " + prefix
        return self.tokenizer.encode(text)

    def _continuation_logps(self, seqs: Sequence[tuple[list[int], list[int]]]) -> list[float]:
        """For each (context ids, continuation ids): the sum of the continuation tokens' log-probabilities."""
        torch = self._torch
        logps: list[float] = []
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        with torch.inference_mode():
            for i in range(0, len(seqs), self.batch_size):
                chunk = [(ctx + cont, len(cont)) for ctx, cont in seqs[i:i + self.batch_size]]
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
        return logps

    def choose(self, contexts: Sequence[tuple[list[dict[str, str]], str]], options: Sequence[str]) -> list[list[float]]:
        """For each (messages, prefix): the judge's probability of each of `options` as its next words (softmax
        over the options' summed log-probabilities). Deterministic and always parseable."""
        torch = self._torch
        option_ids = [self.tokenizer.encode(o, add_special_tokens=False) for o in options]
        seqs = [(self._chat_ids(m, prefix), ids) for m, prefix in contexts for ids in option_ids]
        logps = self._continuation_logps(seqs)
        per = len(options)
        return [torch.softmax(torch.tensor(logps[i * per:(i + 1) * per]), dim=0).tolist()
                for i in range(len(contexts))]

    def score(self, pairs: Sequence[tuple[Any, str]]) -> list[float]:
        probs = self.choose([(judge_messages(self.spec, p, c), "") for p, c in pairs], [str(v) for v in self.values])
        return [float(sum(w * v for w, v in zip(row, self.values))) for row in probs]


def make_judge(spec: JudgeSpec, device: str = "cpu"):
    return OpenAIJudge(spec) if spec.kind == "openai" else LocalJudge(spec, device)


# --- the cache ----------------------------------------------------------------------------------------------------

class JudgeCache:
    """Judge answers by key, in memory and appended to a JSON-lines file in the job folder, so a resumed job (or an
    evaluation that adds an evaluator) never asks the judge again. `salt` is the judge's identity: a different
    model, endpoint or instruction never hits another's entries."""

    def __init__(self, path: Path | None, salt: Any):
        self.path = path
        self.salt = hashlib.sha256(json.dumps(salt, ensure_ascii=False).encode()).hexdigest()[:16]
        self.values: dict[str, Any] = {}
        self._lock = threading.Lock()
        if path and path.is_file():
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    self.values[rec["key"]] = rec["value"] if "value" in rec else float(rec["score"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill: ignore it

    def key(self, *parts: Any) -> str:
        blob = json.dumps([self.salt, *parts], ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __len__(self) -> int:
        return len(self.values)

    def update(self, fresh: dict[str, Any]) -> None:
        if not fresh:
            return
        with self._lock:
            self.values.update(fresh)
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as fh:
                    fh.writelines(json.dumps({"key": k, "value": v}, ensure_ascii=False) + "\n"
                                  for k, v in fresh.items())


# --- the reward ---------------------------------------------------------------------------------------------------

class JudgeReward:
    """The judge as a GRPO reward function: scores normalised to 0..1, cached by (prompt, completion)."""

    def __init__(self, spec: JudgeSpec, *, cache_path: Path | None = None, device: str = "cpu", judge: Any = None):
        self.spec = spec
        self.__name__ = spec.name
        self.name = spec.name
        self.weight = spec.weight
        self.judge = judge or make_judge(spec, device)
        self._store = JudgeCache(cache_path, [spec.kind, spec.model, spec.base_url, spec.rubric, spec.min_score,
                                              spec.max_score])
        self.cache = self._store.values
        self.cache_path = cache_path
        self.requests = 0
        self.hits = 0

    def key(self, prompt: Any, completion: str) -> str:
        return self._store.key(render_prompt(prompt), completion)

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
            self._store.update({k: (v - lo) / (hi - lo) for k, v in zip(todo, raw)})
        self.requests += len(todo)
        self.hits += len(texts) - len(todo)
        log_metric = row.get("log_metric")
        if callable(log_metric):
            log_metric(f"{self.name}/cache_hit_rate", (len(texts) - len(todo)) / max(1, len(texts)))
            log_metric(f"{self.name}/seconds", time.time() - t0)
        return [self.cache[k] for k in keys]
