"""A stand-in OpenAI-compatible judge for offline demos and tests: a real HTTP server (stdlib `http.server`) on
loopback that answers `POST /v1/chat/completions` with a score from a plain Python function instead of a model.

The default scorer rates how warm and casual a response sounds (exclamations, "honestly", "love", contractions
up; "regarding", "inquiry", "consequently" down), which is what the seed's RLAIF demo asks a real judge for. It
also plays the judge's failure modes for tests: a delay (timeouts), a fixed reply (unparseable answers) and HTTP
errors.

It understands evaluation's judge prompts too (`jupyter_ft.evaluation.judges`): a pairwise prompt gets `[[A]]`,
`[[B]]` or `[[C]]` for whichever answer scores higher, a rubric prompt gets a JSON object scoring every criterion
(`relevance`: the share of the question's words the answer uses; any other criterion: `score`), each with a reason.
`answer=` scripts the judge completely: a function of the request's messages returning the reply text, e.g. one
that always prefers whichever answer is shown first (a position-biased judge).

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
_PAIR = re.compile(r"\[Question\]\n(.*?)\n\n\[Answer A\]\n(.*?)\n\[End of answer A\]\n\n\[Answer B\]\n(.*?)\n"
                   r"\[End of answer B\]", re.DOTALL)
_RUBRIC = re.compile(r"\[Criteria\]\n(.*?)\n\n\[Question\]\n(.*?)\n\n\[Answer\]\n(.*?)\n\[End of answer\]", re.DOTALL)
_SCALE = re.compile(r"from (\d+) \(worst\) to (\d+) \(best\)")
_WORD = re.compile(r"[a-z0-9']+")


def relevance(prompt: str, response: str) -> int:
    """1..10: the share of the prompt's longer words that the response uses (a stand-in for 'stays on topic')."""
    asked = {w for w in _WORD.findall(prompt.lower()) if len(w) > 3}
    if not asked:
        return 5
    used = asked & set(_WORD.findall(response.lower()))
    return max(1, min(10, round(1 + 9 * len(used) / len(asked))))


def _pairwise_reply(score: Callable[[str, str], float], prompt: str, a: str, b: str) -> str:
    sa, sb = score(prompt, a), score(prompt, b)
    if sa == sb:
        return f"[[C]] Both answers score {sa:g}."
    return f"[[{'A' if sa > sb else 'B'}]] Answer {'A' if sa > sb else 'B'} scores {max(sa, sb):g} against {min(sa, sb):g}."


def _rubric_reply(score: Callable[[str, str], float], criteria: str, prompt: str, answer: str, system: str) -> str:
    scale = _SCALE.search(system)
    lo, hi = (int(scale.group(1)), int(scale.group(2))) if scale else (1, 10)
    out = {}
    for line in criteria.splitlines():
        name = line.lstrip("- ").split(":", 1)[0].strip()
        if not name:
            continue
        if "relev" in name.lower():
            value, why = relevance(prompt, answer), "uses the question's words"
        else:
            value, why = score(prompt, answer), "how warm and natural it sounds"
        value = lo + (hi - lo) * (value - 1) / 9
        out[name] = {"score": round(value), "reason": f"{name}: {why} ({round(value)}/{hi})."}
    return json.dumps(out)


class StandInJudge:
    """Start with `start()` (or `with`), stop with `stop()`. `requests` counts the chat requests answered."""

    def __init__(self, score: Callable[[str, str], float] = warmth, *, delay_s: float = 0.0, reply: str | None = None,
                 status: int = 200, fail_first: int = 0, answer: Callable[[list[dict]], str] | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        self.score, self.delay_s, self.reply, self.status, self.fail_first = score, delay_s, reply, status, fail_first
        self.answer = answer
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
                messages = body.get("messages", [])
                user = next((m.get("content", "") for m in messages if m.get("role") == "user"), "")
                system = next((m.get("content", "") for m in messages if m.get("role") == "system"), "")
                pair, rubric = _PAIR.search(user), _RUBRIC.search(user)
                if judge.reply is not None:
                    content = judge.reply
                elif judge.answer is not None:
                    content = judge.answer(messages)
                elif pair:
                    content = _pairwise_reply(judge.score, *pair.groups())
                elif rubric:
                    content = _rubric_reply(judge.score, *rubric.groups(), system)
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
