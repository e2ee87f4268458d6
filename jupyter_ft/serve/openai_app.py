"""The OpenAI-compatible HTTP app over one `Engine`, in vLLM's shape, so existing clients work unchanged.

Routes: `GET /v1/models`, `POST /v1/chat/completions` (SSE streaming), `POST /v1/completions` (`logprobs`, `echo`),
`POST /v1/load_lora_adapter`, `POST /v1/unload_lora_adapter`, `GET /health`, `GET /metrics_json`.
The app only translates: requests become `GenRequest`s for the engine's batcher, batcher events become OpenAI
responses or stream chunks. When `api_key` is set every /v1 route needs `Authorization: Bearer <key>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
import uuid
from typing import Any, AsyncIterator, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from jupyter_ft.core.spec.deploy import ServeConfig

from jupyter_ft.serve.batcher import GenerationFailed, GenRequest, QueueFull
from jupyter_ft.serve.engine import AdapterRefused, Engine, UnknownModel
from jupyter_ft.serve.errors import APIError, install

# ---------- request bodies (unknown fields are accepted and ignored, as OpenAI and vLLM do) ----------


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Body):
    type: Literal["text"]
    text: str


class ChatMessage(_Body):
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class _Sampling(_Body):
    model: str = Field(min_length=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1)
    stream: bool = False
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    stream_options: dict[str, Any] | None = None
    ignore_eos: bool = False  # vLLM's extension (extra_body): always generate max_tokens tokens

    @field_validator("n")
    @classmethod
    def _one(cls, v: int) -> int:
        if v != 1:
            raise ValueError("only n=1 is served; send several requests for several answers")
        return v

    @field_validator("stop")
    @classmethod
    def _stops(cls, v):
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        return v

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _no_penalty(cls, v: float) -> float:
        if v != 0:
            raise ValueError("penalties are not supported by this endpoint; leave them at 0")
        return v

    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop if s]


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)


class CompletionRequest(_Sampling):
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int = Field(16, ge=0)
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = False
    suffix: str | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("give at least one prompt")
        return v

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, v):
        if v:
            raise ValueError("suffix (insertion) is not supported by this endpoint")
        return v


class LoadLoraRequest(_Body):
    lora_name: str = Field(min_length=1)
    lora_path: str = Field(min_length=1)


class UnloadLoraRequest(_Body):
    lora_name: str = Field(min_length=1)


# ---------- helpers ----------


def _now() -> int:
    return int(time.time())


class _Job:
    """One choice being generated: the batcher's events arrive on an asyncio queue of the request's loop."""

    def __init__(self, index: int, req: GenRequest, events: asyncio.Queue, loop: asyncio.AbstractEventLoop):
        self.index, self.req = index, req
        req.sink = lambda ev: loop.call_soon_threadsafe(events.put_nowait, (index, ev))


class App:
    """Route logic bound to one engine and config."""

    def __init__(self, config: ServeConfig, engine: Engine):
        self.config, self.engine = config, engine
        self.created = _now()

    # -- checks --
    def adapter_for(self, model: str) -> str:
        try:
            return self.engine.resolve(model)
        except UnknownModel as exc:
            raise APIError(404, str(exc), param="model", code="model_not_found") from None

    def budget(self, prompt_len: int, asked: int | None, default: int, field: str) -> int:
        room = self.engine.max_positions - prompt_len
        if room <= 0:
            raise APIError(400, f"the prompt is {prompt_len} tokens, more than this model's "
                                f"{self.engine.max_positions}-token context", param="messages" if field != "max_tokens"
                           else "prompt", code="context_length_exceeded")
        limit = self.config.max_new_tokens_limit
        if asked is None:
            return min(default, room, limit)
        if asked > limit:
            raise APIError(400, f"{field}: {asked} is more than this endpoint allows ({limit})", param=field)
        if asked > room:
            raise APIError(400, f"{field}: {asked} tokens do not fit: the prompt is {prompt_len} tokens and the "
                                f"context is {self.engine.max_positions}", param=field, code="context_length_exceeded")
        return asked

    def submit(self, reqs: list[GenRequest]) -> tuple[asyncio.Queue, list[_Job]]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        jobs = [_Job(i, r, events, loop) for i, r in enumerate(reqs)]
        submitted = []
        try:
            for job in jobs:
                self.engine.batcher.submit(job.req)
                submitted.append(job)
        except QueueFull as exc:
            for job in submitted:
                job.req.cancel()
            raise APIError(429, str(exc), code="queue_full", headers={"Retry-After": str(exc.retry_after)}) from None
        except GenerationFailed as exc:
            for job in submitted:
                job.req.cancel()
            raise APIError(503, str(exc), code="shutting_down") from None
        return events, jobs

    async def wait_all(self, request: Request, events: asyncio.Queue, jobs: list[_Job]) -> None:
        """Wait until every choice is done; a client that goes away cancels them (their slots are freed)."""
        pending = {j.index for j in jobs}
        try:
            while pending:
                try:
                    index, ev = await asyncio.wait_for(events.get(), timeout=1.0)
                except asyncio.TimeoutError:
                    if await request.is_disconnected():
                        return
                    continue
                if ev["kind"] in ("done", "error"):
                    pending.discard(index)
        finally:
            for j in jobs:
                if not j.req.done.is_set():
                    j.req.cancel()
        failed = [j.req.error for j in jobs if j.req.error]
        if failed:
            raise APIError(500, f"generation failed: {failed[0]}", code="generation_failed")

    # -- chat --
    def chat_requests(self, body: ChatCompletionRequest) -> GenRequest:
        adapter = self.adapter_for(body.model)
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
        try:
            ids = self.engine.chat_ids(messages)
        except Exception as exc:
            raise APIError(400, f"messages: the model's chat template refused them: {exc}", param="messages") from None
        asked = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
        field = "max_completion_tokens" if body.max_completion_tokens is not None else "max_tokens"
        n = self.budget(len(ids), asked, 256, field)
        top = body.top_logprobs if body.top_logprobs is not None else 0
        if body.top_logprobs is not None and not body.logprobs:
            raise APIError(400, "top_logprobs: needs logprobs: true", param="top_logprobs")
        return GenRequest(prompt_ids=ids, adapter=adapter, max_new_tokens=n, temperature=body.temperature,
                          top_p=body.top_p, seed=body.seed, stop=body.stops(), ignore_eos=body.ignore_eos,
                          logprobs=top if body.logprobs else None)

    def chat_logprobs(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        tok = self.engine.tokenizer

        def item(token: str, lp: float) -> dict[str, Any]:
            return {"token": token, "logprob": lp, "bytes": list(token.encode("utf-8"))}

        return {"content": [dict(item(tok.decode([e["token_id"]]), e["logprob"]),
                                 top_logprobs=[item(t, v) for t, v in e["top"].items()]) for e in entries]}

    @staticmethod
    def usage(reqs: list[GenRequest]) -> dict[str, int]:
        p = sum(len(r.prompt_ids) for r in reqs)
        c = sum(len(r.token_ids) for r in reqs)
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    # -- completions --
    def completion_prompts(self, body: CompletionRequest) -> list[list[int]]:
        p = body.prompt
        vocab = len(self.engine.tokenizer)
        if isinstance(p, str):
            prompts = [self.engine.text_ids(p)]
        elif all(isinstance(x, int) for x in p):
            prompts = [list(p)]
        elif all(isinstance(x, str) for x in p):
            prompts = [self.engine.text_ids(x) for x in p]
        else:
            prompts = [list(x) for x in p]
        for i, ids in enumerate(prompts):
            if not ids:
                raise APIError(400, f"prompt[{i}]: empty prompt", param="prompt")
            bad = [t for t in ids if not 0 <= t < vocab]
            if bad:
                raise APIError(400, f"prompt[{i}]: token id {bad[0]} is outside the vocabulary (0..{vocab - 1})",
                               param="prompt")
        return prompts

    def completion_logprobs(self, req: GenRequest, echo: bool, k: int) -> dict[str, Any]:
        """OpenAI's legacy logprobs: tokens, token_logprobs, top_logprobs, text_offset (prompt first when echo)."""
        tok = self.engine.tokenizer
        tokens, lps, tops, offsets = [], [], [], []
        at = 0
        if echo:
            for t, e in zip(req.prompt_ids, req.prompt_token_logprobs or []):
                s = tok.decode([t])
                tokens.append(s)
                lps.append(None if e is None else e["logprob"])
                tops.append(None if e is None else (e["top"] if k else {}))
                offsets.append(at)
                at += len(s)
        for e in req.token_logprobs:
            s = tok.decode([e["token_id"]])
            tokens.append(s)
            lps.append(e["logprob"])
            tops.append(e["top"] if k else {})
            offsets.append(at)
            at += len(s)
        return {"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets}


def _check_key(config: ServeConfig):
    async def check(request: Request) -> None:
        if not config.api_key:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), config.api_key.encode()):
            raise APIError(401, "this endpoint needs its API key: send `Authorization: Bearer <key>`",
                           code="invalid_api_key")
    return check


def create_app(config: ServeConfig, engine: Engine | None = None) -> FastAPI:
    """The app serving `config` (loads the base and adapters now unless an engine is given)."""
    if engine is None:
        engine = Engine(config.base_model, config.adapters, device=config.device,
                        max_batch_size=config.max_batch_size, max_queue=config.max_queue,
                        served_name=config.served_name, batching=config.batching)
        engine.batcher.warm_up()
    core = App(config, engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        engine.close()

    app = FastAPI(title="jupyter-ft endpoint", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.engine = engine
    app.state.config = config
    install(app)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(_check_key(config))])

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/metrics_json")
    async def metrics():
        return {**engine.batcher.load(), "models": engine.served()}

    @v1.get("/models")
    async def models():
        base = {"id": engine.base_id, "object": "model", "created": core.created, "owned_by": "jupyter-ft",
                "root": engine.base_model, "parent": None, "max_model_len": engine.max_positions}
        data = [base] + [{"id": name, "object": "model", "created": core.created, "owned_by": "jupyter-ft",
                          "root": path, "parent": engine.base_id, "max_model_len": engine.max_positions}
                         for name, path in engine.adapters.items()]
        return {"object": "list", "data": data}

    @v1.post("/load_lora_adapter")
    async def load_lora(body: LoadLoraRequest):
        try:
            await run_in_threadpool(engine.add_adapter, body.lora_name, body.lora_path)
        except AdapterRefused as exc:
            param = str(exc).split(":", 1)[0] if str(exc).startswith(("lora_name", "lora_path")) else "lora_path"
            raise APIError(400, str(exc), param=param, code="adapter_refused") from None
        return PlainTextResponse(f"Success: LoRA adapter '{body.lora_name}' added successfully.")

    @v1.post("/unload_lora_adapter")
    async def unload_lora(body: UnloadLoraRequest):
        try:
            await run_in_threadpool(engine.remove_adapter, body.lora_name)
        except UnknownModel as exc:
            raise APIError(404, str(exc), param="lora_name", code="adapter_not_found") from None
        return PlainTextResponse(f"Success: LoRA adapter '{body.lora_name}' removed successfully.")

    @v1.post("/chat/completions")
    async def chat(body: ChatCompletionRequest, request: Request):
        req = core.chat_requests(body)
        events, jobs = core.submit([req])
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", _now()
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            return _sse(_chat_stream(core, body, req, events, jobs, rid, created, include_usage))
        await core.wait_all(request, events, jobs)
        choice = {"index": 0, "message": {"role": "assistant", "content": req.text},
                  "logprobs": core.chat_logprobs(req.token_logprobs) if body.logprobs else None,
                  "finish_reason": req.finish_reason}
        return {"id": rid, "object": "chat.completion", "created": created, "model": body.model,
                "choices": [choice], "usage": core.usage([req])}

    @v1.post("/completions")
    async def completions(body: CompletionRequest, request: Request):
        adapter = core.adapter_for(body.model)
        prompts = core.completion_prompts(body)
        reqs = []
        for ids in prompts:
            n = core.budget(len(ids), body.max_tokens, 16, "max_tokens")
            reqs.append(GenRequest(prompt_ids=ids, adapter=adapter, max_new_tokens=n, temperature=body.temperature,
                                   top_p=body.top_p, seed=body.seed, stop=body.stops(),
                                   ignore_eos=body.ignore_eos, logprobs=body.logprobs,
                                   prompt_logprobs=body.logprobs if body.echo and body.logprobs is not None else None))
        if body.max_tokens == 0 and not body.echo:
            raise APIError(400, "max_tokens: 0 generates nothing; use echo: true to score the prompt",
                           param="max_tokens")
        events, jobs = core.submit(reqs)
        rid, created = f"cmpl-{uuid.uuid4().hex}", _now()
        if body.stream:
            return _sse(_completion_stream(core, body, events, jobs, rid, created))
        await core.wait_all(request, events, jobs)
        choices = []
        for i, r in enumerate(reqs):
            text = (engine.tokenizer.decode(r.prompt_ids) if body.echo else "") + r.text
            choices.append({"index": i, "text": text, "finish_reason": r.finish_reason,
                            "logprobs": core.completion_logprobs(r, body.echo, body.logprobs)
                            if body.logprobs is not None else None})
        return {"id": rid, "object": "text_completion", "created": created, "model": body.model,
                "choices": choices, "usage": core.usage(reqs)}

    app.include_router(v1)
    return app


# ---------- streaming ----------


def _sse(gen: AsyncIterator[dict[str, Any]]):
    from sse_starlette.sse import EventSourceResponse

    async def frames():
        async for item in gen:
            yield {"data": item if isinstance(item, str) else json.dumps(item)}

    return EventSourceResponse(frames(), ping=15)


async def _events(events: asyncio.Queue, jobs: list[_Job]) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """The batcher's events of these jobs until all are done; cancels them if the client goes away."""
    pending = {j.index for j in jobs}
    try:
        while pending:
            index, ev = await events.get()
            if ev["kind"] in ("done", "error"):
                pending.discard(index)
            yield index, ev
    finally:  # runs when the client disconnects (the response task is cancelled) and on normal end
        for j in jobs:
            if not j.req.done.is_set():
                j.req.cancel()


async def _chat_stream(core: App, body: ChatCompletionRequest, req: GenRequest, events, jobs, rid: str,
                       created: int, include_usage: bool):
    def chunk(delta: dict[str, Any], finish: str | None = None, logprobs=None) -> dict[str, Any]:
        return {"id": rid, "object": "chat.completion.chunk", "created": created, "model": body.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    async for _, ev in _events(events, jobs):
        if ev["kind"] == "token":
            lp = core.chat_logprobs([ev["logprob"]]) if body.logprobs and ev["logprob"] else None
            if ev["delta"] or lp:
                yield chunk({"content": ev["delta"]}, logprobs=lp)
        elif ev["kind"] == "done":
            yield chunk({"content": ev["delta"]} if ev["delta"] else {}, finish=ev["finish_reason"])
        elif ev["kind"] == "error":
            yield {"error": {"message": f"generation failed: {ev['message']}", "type": "server_error",
                             "param": None, "code": "generation_failed"}}
    if include_usage:
        yield {"id": rid, "object": "chat.completion.chunk", "created": created, "model": body.model,
               "choices": [], "usage": core.usage([req])}
    yield "[DONE]"


async def _completion_stream(core: App, body: CompletionRequest, events, jobs, rid: str, created: int):
    def chunk(index: int, text: str, finish: str | None = None) -> dict[str, Any]:
        return {"id": rid, "object": "text_completion", "created": created, "model": body.model,
                "choices": [{"index": index, "text": text, "logprobs": None, "finish_reason": finish}]}

    if body.echo:
        for j in jobs:
            yield chunk(j.index, core.engine.tokenizer.decode(j.req.prompt_ids))
    async for index, ev in _events(events, jobs):
        if ev["kind"] == "token" and ev["delta"]:
            yield chunk(index, ev["delta"])
        elif ev["kind"] == "done":
            yield chunk(index, ev["delta"], finish=ev["finish_reason"])
        elif ev["kind"] == "error":
            yield {"error": {"message": f"generation failed: {ev['message']}", "type": "server_error",
                             "param": None, "code": "generation_failed"}}
    if (body.stream_options or {}).get("include_usage"):
        yield {"id": rid, "object": "text_completion", "created": created, "model": body.model, "choices": [],
               "usage": core.usage([j.req for j in jobs])}
    yield "[DONE]"
