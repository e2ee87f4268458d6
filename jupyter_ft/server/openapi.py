"""The OpenAPI 3.1 document of the extension, built from the docs each handler module declares beside its routes.

A handler module lists its routes' docs in a module-level `DOCS` list:

    from .openapi import doc, example

    DOCS = [
        doc("GET", "jobs/{job_id}", "One job with its spec", response=JobDetail,
            query={"tail": params.Int(None, min=1)},            # the same `params` schema the handler parses
            examples=[example(path={"job_id": "@job"}), example(path={"job_id": "no-such"}, status=404)]),
        doc("POST", "jobs", "Submit a training job", body=TrainSpec, response=JobCreated, status=201),
    ]

Paths are relative to the API prefix (`jupyter-ft/api`) unless they start with `/` (then relative to the
server's base URL, e.g. `/jupyter-ft/mlflow/{path}`). Bodies and responses are pydantic models (their JSON schema
goes to `components/schemas`) or plain JSON-schema dicts. `GET openapi.json` walks the server's live route table,
takes the `DOCS` of every module a jupyter_ft handler lives in, and serves the document; `tests/test_openapi.py`
fails for a route missing from it, calls every route without credentials, and runs every example.

Example values starting with `@` name a fixture of the test (`@job`: a queued training job's id, `@dataset`: a
catalog dataset's name, ...): the document shows them as `<job>`, and the test substitutes what it seeded.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import tornado.routing
import tornado.web
from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel

from jupyter_ft.server import params

API_PREFIX = "jupyter-ft/api"
REF = "#/components/schemas/{model}"
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Example:
    """One request the route answers as documented: path values, query, JSON body, and the status it gets."""

    path: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    status: int = 200
    summary: str = ""


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str  # OpenAPI template relative to the server's base URL: /jupyter-ft/api/jobs/{job_id}
    summary: str
    description: str = ""
    body: Any = None  # pydantic model class | JSON schema dict | None
    body_type: str = "application/json"
    response: Any = None  # pydantic model class | JSON schema dict | None (no JSON body)
    response_type: str = "application/json"
    status: int = 200
    query: Mapping[str, params.Param] = field(default_factory=dict)
    errors: tuple[int, ...] = (400,)
    examples: tuple[Example, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return self.method.lower(), self.path


def doc(method: str, path: str, summary: str, *, description: str = "", body: Any = None,
        body_type: str = "application/json", response: Any = None, response_type: str = "application/json",
        status: int = 200, query: Mapping[str, params.Param] | None = None, errors: Iterable[int] = (400,),
        examples: Iterable[Example] = (), tags: Iterable[str] = ()) -> RouteDoc:
    """The doc of one route and method (see the module docstring)."""
    if method.lower() not in METHODS:
        raise ValueError(f"doc: method must be one of {METHODS}, got {method!r}")
    full = path if path.startswith("/") else f"/{API_PREFIX}/{path}"
    full = full.rstrip("/") or "/"
    tag = tuple(tags) or (full.removeprefix(f"/{API_PREFIX}/").split("/")[0] or "api",)
    return RouteDoc(method.upper(), full, summary, description, body, body_type, response, response_type, status,
                    dict(query or {}), tuple(errors), tuple(examples), tag)


def example(*, path: Mapping[str, str] | None = None, query: Mapping[str, str] | None = None, body: Any = None,
            status: int = 200, summary: str = "") -> Example:
    return Example(dict(path or {}), dict(query or {}), body, status, summary)


# --- shapes every route shares -----------------------------------------------------------------------------------

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["message"],
    "properties": {
        "message": {"type": "string", "description": "what is wrong, naming the field, parameter or row"},
        "errors": {"type": "array", "items": {
            "type": "object", "properties": {"field": {"type": ["string", "null"]}, "row": {"type": ["integer", "null"]},
                                             "message": {"type": "string"}}}},
    },
}


def obj(required: Iterable[str] = (), **props: Any) -> dict[str, Any]:
    """A JSON-schema object with these properties (others allowed): `obj(["id"], id={"type": "string"})`."""
    return {"type": "object", "required": list(required), "properties": props}


def array(items: Any) -> dict[str, Any]:
    return {"type": "array", "items": items}


STRING, INTEGER, NUMBER, BOOLEAN = ({"type": t} for t in ("string", "integer", "number", "boolean"))
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_NUMBER = {"type": ["number", "null"]}
ANY_OBJECT = {"type": "object"}


# --- the route table -> templates -----------------------------------------------------------------------------

def template_of(pattern: str) -> str | None:
    """`/base/jupyter-ft/api/jobs/(?P<job_id>[^/]+)/logs/?$` -> `/base/jupyter-ft/api/jobs/{job_id}/logs`.
    None for a pattern with an unnamed group (the namespace's catch-all 404)."""
    return fill_pattern(pattern, lambda name, regex: "{" + name + "}")


def fill_pattern(pattern: str, fill: Callable[[str, str], str]) -> str | None:
    """The route pattern as a path, each named group replaced by `fill(name, group_regex)`; None when it has an
    unnamed group."""
    out, i = [], 0
    pattern = pattern.removeprefix("^").removesuffix("$")
    while i < len(pattern):
        if pattern.startswith("(?P<", i):
            end = pattern.index(">", i)
            close = _group_end(pattern, i)
            out.append(fill(pattern[i + 4:end], pattern[end + 1:close - 1]))
            i = close
        elif pattern[i] == "(":
            return None
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    text = "".join(out)
    text = text.removesuffix("/?").removesuffix("?")
    return text.rstrip("/") or "/"


def _group_end(pattern: str, start: int) -> int:
    depth, i = 0, start
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":  # a character class may hold parentheses
            i = pattern.index("]", i + 2)
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced group in route pattern {pattern!r}")


@dataclass(frozen=True)
class Route:
    pattern: str
    template: str | None  # relative to the base URL, e.g. /jupyter-ft/api/jobs/{job_id}
    handler: type
    methods: tuple[str, ...]  # the HTTP methods the handler implements (upper case)


def implemented_methods(handler: type) -> tuple[str, ...]:
    return tuple(m.upper() for m in METHODS if getattr(handler, m) is not getattr(tornado.web.RequestHandler, m))


def extension_routes(app: tornado.web.Application, base_url: str = "/") -> list[Route]:
    """Every route of the live tornado app whose handler belongs to jupyter_ft: the wildcard router's rules and
    those of the host routers `add_handlers` nests in the default router (where extension routes land)."""
    base = "/" + base_url.strip("/") if base_url.strip("/") else ""
    out = []
    for rule in _rules(app.wildcard_router) + _rules(app.default_router):
        handler = rule.target
        regex = getattr(rule.matcher, "regex", None)
        if not isinstance(handler, type) or regex is None or not handler.__module__.startswith("jupyter_ft."):
            continue
        tpl = template_of(regex.pattern)
        if tpl is not None and base and tpl.startswith(base):
            tpl = tpl[len(base):] or "/"
        out.append(Route(regex.pattern, tpl, handler, implemented_methods(handler)))
    return out


def _rules(router: Any) -> list[Any]:
    out = []
    for rule in getattr(router, "rules", []):
        if isinstance(rule.target, tornado.routing.Router):
            out.extend(_rules(rule.target))
        else:
            out.append(rule)
    return out


def docs_of(routes: Iterable[Route]) -> list[RouteDoc]:
    """The `DOCS` of every module a route's handler is defined in, each module once, in route order."""
    seen: dict[str, None] = {}
    for r in routes:
        seen.setdefault(r.handler.__module__, None)
    out: list[RouteDoc] = []
    for name in seen:
        out.extend(getattr(sys.modules[name], "DOCS", []))
    return out


# --- the document --------------------------------------------------------------------------------------------------

def _schema(value: Any, components: dict[str, Any]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, type) and issubclass(value, BaseModel):
        s = value.model_json_schema(ref_template=REF)
        for name, d in s.pop("$defs", {}).items():
            components.setdefault(name, d)
        components.setdefault(value.__name__, s)
        return {"$ref": REF.format(model=value.__name__)}
    if isinstance(value, dict):
        return value
    raise TypeError(f"a body or response must be a pydantic model or a JSON-schema dict, got {value!r}")


def _param_schema(p: params.Param) -> dict[str, Any]:
    if isinstance(p, params.Int):
        s: dict[str, Any] = {"type": "integer", "minimum": p.min, "maximum": p.max}
    elif isinstance(p, params.Float):
        s = {"type": "number"}
        if p.min != float("-inf"):
            s["minimum"] = p.min
        if p.max != float("inf"):
            s["exclusiveMaximum" if p.max_open else "maximum"] = p.max
    elif isinstance(p, params.Bool):
        s = {"type": "boolean"}
    elif isinstance(p, params.Choice):
        s = {"type": "string", "enum": list(p.choices)}
        if p.multi:
            s = {"type": "array", "items": s}
    else:
        s = {"type": "string", "maxLength": p.max_len}
    default = getattr(p, "default", None)
    if isinstance(default, (int, float, str, bool)):
        s["default"] = default
    return s


def _shown(value: Any) -> Any:
    """Example values as the document shows them: `@job` -> `<job>`."""
    if isinstance(value, str) and value.startswith("@"):
        return f"<{value[1:]}>"
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def _operation(d: RouteDoc, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": d.summary, "tags": list(d.tags),
                          "operationId": d.method.lower() + re.sub(r"[^A-Za-z0-9]+", "_", d.path)}
    if d.description:
        op["description"] = d.description
    parameters = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"\{([^}]+)\}", d.path)]
    parameters += [{"name": n, "in": "query", "required": False, "schema": _param_schema(p),
                    **({"style": "form", "explode": True} if isinstance(p, params.Choice) and p.multi else {})}
                   for n, p in d.query.items()]
    if parameters:
        op["parameters"] = parameters
    if d.body is not None:
        media: dict[str, Any] = {"schema": _schema(d.body, components)}
        bodies = [e.body for e in d.examples if e.body is not None]
        if bodies:
            media["examples"] = {f"example{i}": {"value": _shown(b)} for i, b in enumerate(bodies)}
        op["requestBody"] = {"required": d.method in ("POST", "PUT", "PATCH"), "content": {d.body_type: media}}
    ok: dict[str, Any] = {"description": "OK" if d.status < 300 else "the result"}
    if d.response is not None:
        ok["content"] = {d.response_type: {"schema": _schema(d.response, components)}}
    responses: dict[str, Any] = {str(d.status): ok}
    for code in sorted({*d.errors, 401, 403} | {e.status for e in d.examples if e.status >= 400}):
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "client error"),
                                "content": {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}}
    op["responses"] = responses
    if d.examples:
        op["x-examples"] = [{"path": _shown(dict(e.path)), "query": _shown(dict(e.query)), "body": _shown(e.body),
                             "status": e.status, **({"summary": e.summary} if e.summary else {})}
                            for e in d.examples]
    return op


_ERROR_TEXT = {400: "bad request: the message and `errors` name the field or parameter",
               401: "not authenticated", 403: "not authenticated (no Jupyter token or session)",
               404: "not found", 409: "conflict with the current state", 413: "payload too large",
               502: "the upstream service did not answer", 503: "the service is not available here"}


def build_document(docs: Iterable[RouteDoc], *, base_url: str = "/", version: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document of these docs (one operation per method and path)."""
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for d in docs:
        paths.setdefault(d.path, {})[d.method.lower()] = _operation(d, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "jupyter_ft REST API", "version": version or "0",
                 "description": "LLM fine-tuning in JupyterLab: datasets, jobs, evaluations, models, endpoints. "
                                "Every route needs Jupyter's authentication (a token or the session cookie + XSRF)."},
        "servers": [{"url": base_url.rstrip("/") or "/"}],
        "security": [{"token": []}, {"cookie": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(components.items())),
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                          "description": "`token <jupyter token>`"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "_xsrf",
                           "description": "the browser session of JupyterLab (cookie + X-XSRFToken header)"},
            },
        },
    }


def document_for(app: tornado.web.Application, base_url: str) -> dict[str, Any]:
    from jupyter_ft.core import __version__ as version

    return build_document(docs_of(extension_routes(app, base_url)), base_url=base_url, version=version)


# --- the route serving it --------------------------------------------------------------------------------------

class OpenAPIHandler(APIHandler):
    """The document, built once per server from its live route table (routes do not change after start)."""

    @tornado.web.authenticated
    def get(self) -> None:
        cached = self.settings.get("jupyter_ft_openapi")
        if cached is None:
            cached = json.dumps(document_for(self.application, self.base_url))
            self.settings["jupyter_ft_openapi"] = cached
        self.set_header("Content-Type", "application/json")
        self.finish(cached)


OPENAPI_SCHEMA = obj(["openapi", "info", "paths", "components"], openapi={"const": "3.1.0"}, info=ANY_OBJECT,
                     paths=ANY_OBJECT, components=ANY_OBJECT)

DOCS = [
    doc("GET", "openapi.json", "This document: every route of the extension (OpenAPI 3.1)",
        response=OPENAPI_SCHEMA, errors=(), tags=("meta",), examples=[example()]),
]


def routes(prefix: str) -> list[tuple[str, type]]:
    return [(rf"{prefix}/openapi\.json", OpenAPIHandler)]
