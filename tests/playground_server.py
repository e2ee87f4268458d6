"""An OpenAI-compatible streaming endpoint for the playground's tests, until the endpoint issue's own server
(`python -m jupyter_ft.serve`) is in the tree: a small FastAPI app over real tiny models (one per served name),
generating with `transformers.TextIteratorStreamer` and streaming server-sent events in OpenAI's chunk format.
Served by uvicorn on loopback in a thread of the test process; `stop()` shuts it down.
"""



import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stand_in_app(models: dict[str, Path]):
    import torch
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer

    loaded = {name: (AutoTokenizer.from_pretrained(p), AutoModelForCausalLM.from_pretrained(p).eval())
              for name, p in models.items()}
    app = FastAPI()
    lock = threading.Lock()

    @app.get("/v1/models")
    def list_models():
        return {"object": "list", "data": [{"id": n, "object": "model", "owned_by": "test"} for n in loaded]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        name = body.get("model")
        if name not in loaded:
            return JSONResponse({"error": {"message": f"model {name!r} not found; served: {list(loaded)}",
                                           "type": "NotFoundError", "code": 404}}, status_code=404)
        tok, model = loaded[name]
        inputs = tok.apply_chat_template(body["messages"], add_generation_prompt=True, return_tensors="pt",
                                         return_dict=True)
        streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
        temperature = float(body.get("temperature") or 0)
        kwargs: dict[str, Any] = dict(max_new_tokens=int(body.get("max_tokens") or 16), do_sample=temperature > 0,
                                      pad_token_id=tok.pad_token_id, streamer=streamer)
        if temperature > 0:
            kwargs.update(temperature=temperature, top_p=float(body.get("top_p") or 1.0))

        def run():
            with lock, torch.inference_mode():
                if body.get("seed") is not None:
                    torch.manual_seed(int(body["seed"]))
                model.generate(**inputs, **kwargs)

        threading.Thread(target=run, daemon=True).start()
        created = int(time.time())

        def chunk(delta: dict, finish: str | None = None) -> str:
            return "data: " + json.dumps({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": created,
                                          "model": name, "choices": [{"index": 0, "delta": delta,
                                                                      "finish_reason": finish}]}) + "\n\n"

        def events():
            yield chunk({"role": "assistant", "content": ""})
            for text in streamer:
                if text:
                    yield chunk({"content": text})
            yield chunk({}, "stop")
            yield "data: [DONE]\n\n"

        if not body.get("stream"):
            text = "".join(streamer)
            return {"id": "chatcmpl-test", "object": "chat.completion", "created": created, "model": name,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}]}
        return StreamingResponse(events(), media_type="text/event-stream")

    return app


class PlaygroundServer:
    """`PlaygroundServer({"tiny": path, "tiny-b": other}).start()`; `.url` is the `/v1` root."""

    def __init__(self, models: dict[str, Path]):
        import uvicorn

        self.port = _free_port()
        self.models = list(models)
        config = uvicorn.Config(_stand_in_app(models), host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="playground-test-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "PlaygroundServer":
        self._thread.start()
        deadline = time.time() + 30
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError("the playground test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """Two tiny models with different random weights: their greedy answers differ."""
    from jupyter_ft.training.tiny_model import make_tiny_model

    root = tmp_path_factory.mktemp("pg-models")
    return make_tiny_model(root / "tiny"), make_tiny_model(root / "tiny-b", seed=1)


@pytest.fixture(scope="module")
def server(two_models):
    """The endpoint serving them as `tiny` and `tiny-b`; stopped after the module."""
    s = PlaygroundServer({"tiny": two_models[0], "tiny-b": two_models[1]}).start()
    yield s
    s.stop()
