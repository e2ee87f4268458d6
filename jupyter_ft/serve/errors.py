"""Errors of the OpenAI-compatible app, in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

Clients (the official `openai` package, lm-eval, LangChain) read `error.message`; the status code picks the exception
class they raise. Every failure of the app goes through `openai_error`, none is FastAPI's `{"detail": ...}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
         409: "invalid_request_error", 429: "rate_limit_error", 500: "server_error", 503: "server_error"}


class APIError(Exception):
    """Raised by a route; becomes an OpenAI-format error response."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": TYPES.get(status, "invalid_request_error"), "param": param,
                      "code": code}}


def openai_error(status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param, code), status_code=status, headers=headers)


def _field(loc: tuple | list) -> str:
    """`("body", "messages", 0, "role")` -> `messages[0].role`."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path"):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def install(app: FastAPI) -> None:
    """Route every error of `app` through OpenAI's format (FastAPI's 422 becomes a 400 naming the field)."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return openai_error(exc.status, exc.message, exc.param, exc.code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request body"}
        field = _field(first.get("loc", ()))
        msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        if first.get("type") == "json_invalid":
            field, msg = "body", "the request body is not valid JSON"
        elif field == "body" and first.get("type") in ("model_attributes_type", "dict_type"):
            msg = "the request body must be a JSON object (send it with Content-Type: application/json)"
        elif first.get("type") == "missing":
            msg = "this field is required"
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        return openai_error(400, f"{field}: {msg}{more}", param=field, code="invalid_value")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return openai_error(404, f"no route {request.method} {request.url.path}", code="not_found")
        if exc.status_code == 405:
            return openai_error(405, f"{request.method} is not allowed on {request.url.path}", code="method_not_allowed")
        return openai_error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        return openai_error(500, f"internal error: {type(exc).__name__}: {exc}", code="internal_error")
