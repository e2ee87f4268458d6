"""Who answers in the playground, and how an answer streams: any OpenAI-compatible endpoint, through the official
`openai` client (`stream=True`, server-sent events), one text delta at a time.

A playground column is a `Target`: an endpoint URL (`.../v1`), the served model name the request's `model` field
picks, and the endpoint's API key. Users name targets as they think of them:

- a deployed endpoint (an `Endpoint` from `ft.deploy`, or its name): one column per model it serves (the base and
  each adapter), or the ones picked with `models=`;
- a model a running endpoint serves, by its served name (a registry ref such as `humanlike@3`);
- any OpenAI-compatible URL, `http://host:port/v1#model` (without `#model`: every model its `/v1/models` lists);
- a list of those.

Failures (unreachable endpoint, unknown model, bad key) raise `PlaygroundError` with the endpoint's own message
(e.g. a 404 listing the served names), never a traceback.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from jupyter_ft.core.deploy.playground import ChatSettings, PlaygroundError
from jupyter_ft.core.workspace import Workspace

DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Target:
    label: str                 # column title
    url: str                   # endpoint root, ".../v1"
    model: str                 # the served name sent as the request's `model`
    api_key: str | None = None
    endpoint: str | None = None  # the deployed endpoint's name, or the URL for a foreign one

    @property
    def source(self) -> str:
        return f"{self.model} @ {self.endpoint or self.url}"


def _client(url: str, api_key: str | None, timeout: float):
    import openai

    # max_retries=0: a playground shows a failure at once; the user asks again
    return openai.OpenAI(base_url=url, api_key=api_key or "not-needed", timeout=timeout, max_retries=0)


def _reason(exc: BaseException, url: str) -> str:
    """A one-line reason from an `openai` exception, with the server's own message where there is one."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return f"{url} did not answer in time"
    if isinstance(exc, openai.APIConnectionError):
        return f"{url} is unreachable ({exc.__cause__ or exc})"
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        msg = None
        if isinstance(body, dict):
            err = body.get("error", body)
            msg = err.get("message") if isinstance(err, dict) else err
            msg = msg or body.get("detail") or body.get("message")
        return f"{url} answered HTTP {exc.status_code}: {msg or exc.message}"
    return f"{url}: {type(exc).__name__}: {exc}"


def served_models(url: str, api_key: str | None = None, timeout: float = 30.0) -> list[str]:
    """The model names an OpenAI-compatible endpoint serves (`GET /v1/models`)."""
    import openai

    try:
        with _client(url, api_key, timeout) as client:
            return [m.id for m in client.models.list()]
    except openai.OpenAIError as exc:
        raise PlaygroundError("endpoint", _reason(exc, url)) from None


def stream_answer(target: Target, prompt: str | list[dict[str, str]], settings: ChatSettings,
                  stop: threading.Event | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> Iterator[str]:
    """Yield the answer's text deltas as the endpoint streams them. Setting `stop` closes the stream (the server
    sees the client go and frees the request's slot)."""
    import openai

    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    try:
        with _client(target.url, target.api_key, timeout) as client:
            stream = client.chat.completions.create(model=target.model, messages=messages, stream=True,
                                                    **settings.request())
            try:
                for chunk in stream:
                    if stop is not None and stop.is_set():
                        return
                    for choice in chunk.choices or []:
                        text = getattr(choice.delta, "content", None)
                        if text:
                            yield text
            finally:
                stream.close()
    except openai.OpenAIError as exc:
        raise PlaygroundError(target.label, _reason(exc, target.url)) from None


def answer(target: Target, prompt: Any, settings: ChatSettings, on_text: Callable[[str], None] | None = None,
           stop: threading.Event | None = None) -> str:
    """The whole answer (streamed; `on_text` gets the text so far after each delta)."""
    parts: list[str] = []
    for delta in stream_answer(target, prompt, settings, stop):
        parts.append(delta)
        if on_text is not None:
            on_text("".join(parts))
    return "".join(parts)


# --- naming targets -------------------------------------------------------------------------------------------

def _endpoint_models(ep: Any) -> list[str]:
    """Served names of an `Endpoint` (its `.models` holds names, or OpenAI model objects/dicts with `id`)."""
    out = []
    for m in getattr(ep, "models", None) or []:
        out.append(m if isinstance(m, str) else (m.get("id") if isinstance(m, dict) else getattr(m, "id", str(m))))
    return out


def find_endpoint(ws: Workspace, name: str) -> Any:
    """The deployed endpoint called `name` (`core.deploy.endpoints.get`); the error lists the known ones. A stopped
    endpoint is refused: it has nothing to answer with."""
    from jupyter_ft.core.deploy import endpoints as _endpoints
    try:
        ep = _endpoints.get(ws, name)
    except KeyError as exc:  # EndpointNotFound: its message lists the known endpoints
        raise PlaygroundError("endpoint", str(exc).strip("'\""), status=404) from None
    state = ep.state
    if state in ("stopped", "failed"):
        raise PlaygroundError("endpoint", f"endpoint {name!r} is {state} (start it again with ft.deploy(...))",
                              status=409)
    return ep


def _serving(ws: Workspace, model: str) -> Any:
    """A running endpoint that serves `model` (e.g. a registry ref `humanlike@3`), or None."""
    from jupyter_ft.core.deploy import endpoints as _endpoints
    for ep in _endpoints.endpoints(ws):
        if model in _endpoint_models(ep) and ep.state not in ("stopped", "failed"):
            return ep
    return None


def _from_endpoint(ep: Any, models: list[str] | None) -> list[Target]:
    url = getattr(ep, "url", None)
    if not url:
        raise PlaygroundError("endpoint", f"endpoint {getattr(ep, 'name', ep)!r} has no URL (is it running?)")
    served = _endpoint_models(ep) or served_models(url, getattr(ep, "api_key", None))
    return _pick(served, models, url, getattr(ep, "api_key", None), getattr(ep, "name", None) or url)


def _pick(served: list[str], models: list[str] | None, url: str, api_key: str | None, endpoint: str) -> list[Target]:
    chosen = served if models is None else list(models)
    unknown = [m for m in chosen if m not in served]
    if unknown:
        raise PlaygroundError("models", f"{unknown} not served by {endpoint}; it serves {served}", status=404)
    return [Target(_short(m), url, m, api_key, endpoint) for m in chosen]


def _short(served: str) -> str:
    """A column title for a served name: a base served under its folder's path shows as the folder's name."""
    return served.rstrip("/").rsplit("/", 1)[-1] if served.startswith(("/", "./", "~")) else served


def resolve_targets(ws: Workspace, source: Any, models: list[str] | None = None,
                    api_key: str | None = None) -> list[Target]:
    """The playground's columns for `source` (an `Endpoint`, an endpoint name, a URL `...#model`, or a list of
    those); `models` picks some of an endpoint's served models. Column titles are made unique."""
    items = list(source) if isinstance(source, (list, tuple)) else [source]
    if not items:
        raise PlaygroundError("models", "name at least one endpoint or model")
    targets: list[Target] = []
    for item in items:
        if isinstance(item, Target):
            targets.append(item)
        elif isinstance(item, str) and item.startswith(("http://", "https://")):
            url, _, name = item.partition("#")
            url = url.rstrip("/")
            if name:
                targets.append(Target(name, url, name, api_key, url))
            else:
                targets += _pick(served_models(url, api_key), models, url, api_key, url)
        elif isinstance(item, str):
            base, _, name = item.partition("#")
            try:
                ep = find_endpoint(ws, base)
            except PlaygroundError as exc:
                serving = None if name or exc.status != 404 else _serving(ws, item)
                if serving is None:
                    raise
                targets += _from_endpoint(serving, [item])
            else:
                targets += _from_endpoint(ep, [name] if name else models)
        elif hasattr(item, "url"):
            targets += _from_endpoint(item, models)
        else:
            raise PlaygroundError("models", f"{item!r} is neither an endpoint, an endpoint name nor a URL")
    seen: dict[str, int] = {}
    out = []
    for t in targets:
        n = seen.get(t.label, 0)
        seen[t.label] = n + 1
        out.append(t if n == 0 else Target(f"{t.label} ({n + 1})", t.url, t.model, t.api_key, t.endpoint))
    return out
