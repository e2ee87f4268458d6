"""A stand-in OpenAI-compatible judge for offline demos and tests: a real HTTP server (stdlib `http.server`) on
loopback that answers `POST /v1/chat/completions` with a score from a plain Python function instead of a model.

The default scorer rates how warm and casual a response sounds (exclamations, "honestly", "love", contractions
up; "regarding", "inquiry", "consequently" down), which is what the seed's RLAIF demo asks a real judge for. It
also plays the judge's failure modes for tests: a delay (timeouts), a fixed reply (unparseable answers) and HTTP
errors.

    with StandInJudge() as judge:            # or StandInJudge(score=lambda prompt, response: 7)
        spec = {"kind": "openai", "base_url": judge.url, "model": "stand-in"}
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

WARM = ("!", "honestly", "love", "totally", "fun", "glad", "aw", "ooh", "ha", "you've got this", "great question",
        "'s", "n't", "'re", "'ve", "'ll")
FORMAL = ("regarding", "inquiry", "consequently", "it should be noted", "further research", "individual results",
          "no further comment", "please consult", "has been received", "the following information")


def warmth(prompt: str, response: str) -> int:
    """1..10: how warm and human `response` sounds (a heuristic stand-in for a judge model's opinion)."""
    t = response.lower()
    score = 3 + sum(t.count(w) for w in WARM) - 2 * sum(t.count(w) for w in FORMAL)
    return max(1, min(10, score))


_RESPONSE = re.compile(r"Response to rate:\n(.*?)\n\nScore", re.DOTALL)
_PROMPT = re.compile(r"Prompt:\n(.*?)\n\nResponse to rate:", re.DOTALL)


class StandInJudge:
    """Start with `start()` (or `with`), stop with `stop()`. `requests` counts the chat requests answered."""

    def __init__(self, score: Callable[[str, str], float] = warmth, *, delay_s: float = 0.0, reply: str | None = None,
                 status: int = 200, fail_first: int = 0, host: str = "127.0.0.1", port: int = 0):
        self.score, self.delay_s, self.reply, self.status, self.fail_first = score, delay_s, reply, status, fail_first
        self.requests = 0
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    return self._send(200, {"object": "list", "data": [{"id": "stand-in", "object": "model"}]})
                self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self._send(400, {"error": {"message": "body is not JSON"}})
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                with judge._lock:
                    judge.requests += 1
                    n = judge.requests
                    judge.bodies.append(body)
                if judge.delay_s:
                    time.sleep(judge.delay_s)
                if n <= judge.fail_first:
                    return self._send(503, {"error": {"message": "warming up"}})
                if judge.status != 200:
                    return self._send(judge.status, {"error": {"message": f"stand-in judge set to {judge.status}"}})
                user = next((m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"), "")
                if judge.reply is not None:
                    content = judge.reply
                else:
                    resp = _RESPONSE.search(user)
                    prompt = _PROMPT.search(user)
                    content = str(judge.score(prompt.group(1) if prompt else "", resp.group(1) if resp else user))
                self._send(200, {
                    "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "stand-in"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1},
                })

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> StandInJudge:
        self._thread = threading.Thread(target=self._server.serve_forever, name="stand-in-judge", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> StandInJudge:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
