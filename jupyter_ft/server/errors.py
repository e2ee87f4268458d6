"""The one error mapper of the REST face: every exception a handler lets through becomes a JSON reply.

Client mistakes (bad parameters or bodies, unknown jobs or datasets, bad specs or rows, oversized uploads) are 4xx
naming the field, parameter or row; anything else is a 500 that says only "internal error" (the trace goes to the
server log). No reply ever carries a traceback or a server path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tornado.web import HTTPError

from jupyter_ft.core.datasets.errors import DatasetImportError, DatasetNotFound, DatasetValidationError
from jupyter_ft.core.jobs.store import JobNotFound
from jupyter_ft.core.spec.train import SpecError


class ClientError(Exception):
    """A request the client must change: `field` is the parameter, body field or form field at fault."""

    status = 400

    def __init__(self, field: str | None, message: str, status: int | None = None, **extra: Any):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.extra = extra
        if status is not None:
            self.status = status


class PayloadTooLarge(ClientError):
    status = 413

    def __init__(self, field: str, limit: int):
        super().__init__(field, f"larger than the server's limit of {human_bytes(limit)} ({limit} bytes)", limit=limit)


def human_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError  # unreachable


def reply_for(exc: BaseException | None, status: int) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) for an exception raised by a handler; `status` is what tornado would have sent."""
    if isinstance(exc, ClientError):
        return exc.status, {"message": str(exc), **exc.extra,
                            "errors": [{"row": None, "field": exc.field, "message": exc.message}]}
    if isinstance(exc, SpecError):
        return 400, {"message": str(exc), "errors": [{"field": f, "message": m} for f, m in exc.errors]}
    if isinstance(exc, (JobNotFound, DatasetNotFound)):
        return 404, {"message": str(exc)}
    if isinstance(exc, DatasetValidationError):
        report = exc.report or {}
        return 400, {"message": str(exc), "errors": exc.errors, "counts": report.get("counts", {}),
                     "invalid_rows": report.get("invalid_rows"), "rows": report.get("rows")}
    if isinstance(exc, DatasetImportError):
        return 400, {"message": str(exc), "errors": exc.errors}
    if isinstance(exc, HTTPError):
        return exc.status_code, {"message": exc.log_message or exc.reason or f"HTTP {exc.status_code}"}
    if exc is None and status < 500:
        return status, {"message": f"HTTP {status}"}
    return 500, {"message": "internal error in jupyter_ft; the details are in the Jupyter server's log"}


def is_client_error(exc: BaseException | None) -> bool:
    return exc is not None and reply_for(exc, 500)[0] < 500


def scrub(value: Any, paths: list[tuple[str, str]]) -> Any:
    """`value` with each server path replaced by what the client may see (its own file name, `<workspace>`)."""
    if isinstance(value, str):
        for path, shown in paths:
            value = value.replace(path, shown)
        return value
    if isinstance(value, dict):
        return {k: scrub(v, paths) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, paths) for v in value]
    return value


def server_paths(root: Path) -> list[tuple[str, str]]:
    """The workspace's folders as they appear in messages, longest first (resolved and as given)."""
    found = {str(root), str(root.resolve())}
    return [(p, "<workspace>") for p in sorted(found, key=len, reverse=True)]
