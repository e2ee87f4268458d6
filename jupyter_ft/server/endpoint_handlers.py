"""REST routes of endpoints, and the Jupyter proxy in front of each endpoint's OpenAI API.

    GET    jupyter-ft/api/endpoints                       {"endpoints": [...]}
    POST   jupyter-ft/api/endpoints                       DeploySpec JSON -> 201 {"endpoint": {...}} (state starting)
    GET    jupyter-ft/api/endpoints/{name}                {"endpoint": {...}}
    DELETE jupyter-ft/api/endpoints/{name}                stops it -> {"endpoint": {...}}
    POST   jupyter-ft/api/endpoints/{name}/adapters       {"adapters": ["name@3"]} -> {"added": [...], "endpoint"}
    DELETE jupyter-ft/api/endpoints/{name}/adapters/{m}   unloads one -> {"endpoint": {...}}
    *      jupyter-ft/endpoints/{name}/v1/...             proxied to the endpoint, streaming, behind Jupyter auth

The proxy adds the endpoint's API key itself, so a client only needs its Jupyter login (the official `openai`
client works with `base_url=<server>/jupyter-ft/endpoints/NAME/v1` and `api_key=<Jupyter token>`: Jupyter accepts
`Authorization: Bearer <token>`). Responses stream through chunk by chunk (server-sent events included); a client
that goes away closes the upstream request, so the endpoint frees the slot.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Any, Iterator

import tornado.web
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.ioloop import IOLoop
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from jupyter_ft.core.deploy import store as endpoint_store
from jupyter_ft.core.deploy import endpoints
from jupyter_ft.core.deploy.refs import DeployError

from jupyter_ft.server.errors import ClientError
from jupyter_ft.server.handlers import BaseHandler

# request headers passed to the endpoint (others, cookies and Jupyter's Authorization above all, stay here)
FORWARD_REQUEST_HEADERS = ("Content-Type", "Accept", "Accept-Encoding", "User-Agent", "X-Request-Id")
# hop-by-hop / recomputed response headers not copied back
SKIP_RESPONSE_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date",
                         "content-encoding"}
PROXY_TIMEOUT_S = 900.0
MAX_PROXY_CLIENTS = 512  # tornado's default of 10 would queue the 11th concurrent stream


@contextmanager
def client_errors() -> Iterator[None]:
    """Core's endpoint errors as REST 4xx naming the field (unknown endpoint: 404 listing the known ones)."""
    try:
        yield
    except endpoint_store.EndpointNotFound as exc:
        raise ClientError("name", str(exc), status=404, known=exc.known) from None
    except DeployError as exc:
        raise ClientError(exc.field, exc.message) from None


class EndpointsHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        eps = await asyncio.to_thread(endpoints.endpoints, self.ws)
        self.reply({"endpoints": await asyncio.to_thread(lambda: [e.to_dict() for e in eps])})

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        with client_errors():
            ep = await asyncio.to_thread(endpoints.deploy, body, self.ws, wait=False,
                                         base_dir=self.settings.get("server_root_dir"))
        self.reply({"endpoint": await asyncio.to_thread(ep.to_dict, False)}, 201)


class EndpointHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        with client_errors():
            ep = endpoints.get(self.ws, name)
        self.reply({"endpoint": await asyncio.to_thread(ep.to_dict)})

    @tornado.web.authenticated
    async def delete(self, name: str) -> None:
        with client_errors():
            endpoints.get(self.ws, name)
            await asyncio.to_thread(endpoints.stop, self.ws, name)
        self.reply({"endpoint": endpoints.get(self.ws, name).to_dict(load=False)})


class EndpointAdaptersHandler(BaseHandler):
    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        body = self.json_body()
        entries = body.get("adapters")
        if not isinstance(entries, list) or not entries or not all(isinstance(e, str) and e.strip() for e in entries):
            raise ClientError("adapters", "give a non-empty list of adapter refs, job ids or folders")
        unknown = sorted(set(body) - {"adapters"})
        if unknown:
            raise ClientError(unknown[0], "unknown field")
        with client_errors():
            added = await asyncio.to_thread(endpoints.add_adapters, self.ws, name, entries,
                                            base_dir=self.settings.get("server_root_dir"))
            ep = endpoints.get(self.ws, name)
        self.reply({"added": added, "endpoint": await asyncio.to_thread(ep.to_dict)})


class EndpointAdapterHandler(BaseHandler):
    @tornado.web.authenticated
    async def delete(self, name: str, served: str) -> None:
        with client_errors():
            await asyncio.to_thread(endpoints.remove_adapters, self.ws, name, [served])
            ep = endpoints.get(self.ws, name)
        self.reply({"endpoint": await asyncio.to_thread(ep.to_dict)})


# --- the proxy ---------------------------------------------------------------------------------------------------

_clients: dict[int, SimpleAsyncHTTPClient] = {}


def _http_client() -> SimpleAsyncHTTPClient:
    """One HTTP client per event loop, with room for many concurrent streams."""
    loop = IOLoop.current()
    client = _clients.get(id(loop))
    if client is None:
        client = _clients[id(loop)] = SimpleAsyncHTTPClient(force_instance=True, max_clients=MAX_PROXY_CLIENTS)
    return client


class _ClientGone(Exception):
    """Raised inside the streaming callback once the browser/client has gone, to abort the upstream request."""


class EndpointProxyHandler(BaseHandler):
    """Forwards `<base_url>jupyter-ft/endpoints/{name}/v1/{path}` to the endpoint's direct port with its key."""

    SUPPORTED_METHODS = ("GET", "POST", "DELETE")

    def initialize(self) -> None:
        self._gone = False
        self._status_seen = False
        self._content_type: str | None = None

    def on_connection_close(self) -> None:
        self._gone = True

    @tornado.web.authenticated
    async def get(self, name: str, path: str) -> None:
        await self._forward(name, path)

    @tornado.web.authenticated
    async def post(self, name: str, path: str) -> None:
        await self._forward(name, path)

    @tornado.web.authenticated
    async def delete(self, name: str, path: str) -> None:
        await self._forward(name, path)

    def _refuse(self, status: int, message: str, **extra: Any) -> None:
        """An error reply of the proxy itself, in the OpenAI error shape clients of /v1 understand."""
        self.set_status(status)
        if status == 503:
            self.set_header("Retry-After", "5")
        self.reply({"error": {"message": message, "type": "endpoint_unavailable", "param": None, "code": status},
                    "message": message, **extra}, status)

    def _on_header(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if line.startswith("HTTP/"):
            parts = line.split(" ", 2)
            self.set_status(int(parts[1]), parts[2] if len(parts) > 2 else None)
            self._status_seen = True
        elif ":" in line and self._status_seen:
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-type":
                self._content_type = value.strip()
            elif key.strip().lower() not in SKIP_RESPONSE_HEADERS:
                self.set_header(key.strip(), value.strip())

    def _on_chunk(self, chunk: bytes) -> None:
        if self._gone:
            raise _ClientGone()
        if self._content_type:
            self.set_header("Content-Type", self._content_type)
        self.write(chunk)
        self.flush()

    async def _forward(self, name: str, path: str) -> None:
        with client_errors():
            rec = endpoint_store.get(self.ws, name)
        if rec.state != "running" or not rec.url:
            why = f"endpoint {name!r} is {rec.state}"
            if rec.last_error and rec.state != "stopped":
                why += f": {rec.last_error}"
            if rec.state in ("starting", "restarting"):
                why += "; it is starting, try again shortly"
            self._refuse(503, why, state=rec.state)
            return
        url = f"{rec.url}/{path}"
        if self.request.query:
            url += f"?{self.request.query}"
        headers = {h: self.request.headers[h] for h in FORWARD_REQUEST_HEADERS if h in self.request.headers}
        headers["Authorization"] = f"Bearer {await asyncio.to_thread(endpoints._read_key, rec)}"
        body = self.request.body if self.request.method == "POST" else None
        req = HTTPRequest(url, method=self.request.method, headers=headers, body=body,
                          allow_nonstandard_methods=True, follow_redirects=False, decompress_response=False,
                          connect_timeout=10.0, request_timeout=PROXY_TIMEOUT_S,
                          header_callback=self._on_header, streaming_callback=self._on_chunk)
        try:
            await _http_client().fetch(req, raise_error=False)
        except _ClientGone:
            return
        except (HTTPClientError, OSError, asyncio.TimeoutError) as exc:
            if self._gone:
                return
            if not self._status_seen:
                self._refuse(502, f"endpoint {name!r} did not answer at its port ({exc}); its supervisor "
                                  "restarts a dead server")
            elif not self._finished:
                self.finish(set_content_type=self._content_type or "application/json")
            return  # a stream that broke midway: what was sent stays sent
        if not self._finished and not self._gone:
            self.finish(set_content_type=self._content_type or "application/json")


def routes(prefix: str) -> list[tuple[str, type]]:
    name = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)"
    return [
        (rf"{prefix}/endpoints/?", EndpointsHandler),
        (rf"{prefix}/endpoints/{name}/?", EndpointHandler),
        (rf"{prefix}/endpoints/{name}/adapters/?", EndpointAdaptersHandler),
        (rf"{prefix}/endpoints/{name}/adapters/(?P<served>[^/]+)/?", EndpointAdapterHandler),
    ]


def proxy_routes() -> list[tuple[str, type]]:
    """Outside the REST namespace: the path users and the OpenAI client see (`endpoints.PROXY_PREFIX`)."""
    return [(r"jupyter-ft/endpoints/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)/v1/(?P<path>.*)", EndpointProxyHandler)]


# --- the OpenAPI document's entries for these routes ---------------------------------------------------------------

from jupyter_ft.core.spec.deploy import DeploySpec  # noqa: E402

from jupyter_ft.server.openapi import ANY_OBJECT, INTEGER, NUMBER, STRING, array, doc, example, obj  # noqa: E402

_NULLABLE = {"type": ["string", "null"]}
_ENDPOINT = obj(["name", "state", "url", "proxy_url", "models", "base_model", "engine", "load", "created_at"],
                name=STRING, state={"enum": list(endpoint_store.STATES)}, url=_NULLABLE,
                proxy_url={**STRING, "description": "path under the Jupyter base URL, proxied behind Jupyter's login"},
                models={**array(STRING), "description": "served model names: the base first, then each adapter"},
                base_model=STRING, engine={"enum": ["local", "vllm"]},
                load={"type": ["object", "null"], "description": "queue/active/served counts while running"},
                created_at=NUMBER, adapters=ANY_OBJECT, host=STRING, port={"type": ["integer", "null"]},
                pid={"type": ["integer", "null"]}, restarts=INTEGER, last_error=_NULLABLE, notes=array(STRING))
_ONE = obj(["endpoint"], endpoint=_ENDPOINT)
_OPENAI = ("The endpoint's own OpenAI-compatible API (vLLM's shape: models, chat/completions with SSE streaming, "
           "completions with logprobs/echo, load_lora_adapter, unload_lora_adapter), forwarded with the endpoint's "
           "API key; errors in OpenAI's format. 503 (Retry-After) while it starts or restarts.")

DOCS = [
    doc("GET", "endpoints", "Every endpoint: state, URLs, models, load", response=obj(["endpoints"],
        endpoints=array(_ENDPOINT)), examples=[example()]),
    doc("POST", "endpoints", "Deploy an endpoint (a DeploySpec): starts its server, answers at once with state "
        "`starting`", body=DeploySpec, response=_ONE, status=201,
        examples=[example(body={"name": "bad name", "adapters": ["x@1"]}, status=400),
                  example(body={"adapters": ["no-such-model@3"]}, status=400)]),
    doc("GET", "endpoints/{name}", "One endpoint", response=_ONE, errors=(404,),
        examples=[example(path={"name": "no-such"}, status=404)]),
    doc("DELETE", "endpoints/{name}", "Stop an endpoint's server", response=_ONE, errors=(404,),
        examples=[example(path={"name": "no-such"}, status=404)]),
    doc("POST", "endpoints/{name}/adapters", "Load adapters into a running endpoint, no restart",
        body=obj(["adapters"], adapters=array(STRING)), response=obj(["added", "endpoint"], added=array(STRING),
                                                                     endpoint=_ENDPOINT), errors=(400, 404),
        examples=[example(path={"name": "no-such"}, body={"adapters": []}, status=400),
                  example(path={"name": "no-such"}, body={"adapters": ["x@1"]}, status=404)]),
    doc("DELETE", "endpoints/{name}/adapters/{served}", "Unload one adapter from a running endpoint",
        response=_ONE, errors=(400, 404), examples=[example(path={"name": "no-such", "served": "x"}, status=404)]),
    *[doc(m, "/jupyter-ft/endpoints/{name}/v1/{path}", "The endpoint's OpenAI API through Jupyter", description=_OPENAI,
          response=ANY_OBJECT, errors=(400, 401, 404, 429, 502, 503), tags=("endpoints",),
          examples=[example(path={"name": "no-such", "path": "models"}, status=404)] if m == "GET" else ())
      for m in ("GET", "POST", "DELETE")],
]
