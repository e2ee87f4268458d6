"""REST over the dataset catalog: list datasets and versions, get one, page through rows, upload a file.

    GET  /jupyter-ft/api/datasets                              latest version of each dataset (+ version count)
    POST /jupyter-ft/api/datasets?name=..&technique=..         upload: multipart/form-data (one file part) or a raw
                                                               body with ?filename=data.jsonl, streamed to disk up
                                                               to the server's `max_upload_bytes` (413 past it);
                                                               options as query or form fields: name, technique,
                                                               mapping (JSON), drop_invalid, eval_fraction, seed,
                                                               max_chars
    GET  /jupyter-ft/api/datasets/{name}                       every version, newest first
    GET  /jupyter-ft/api/datasets/{name}/{version}             one version (`latest` allowed, or a unique prefix)
    GET  /jupyter-ft/api/datasets/{name}/{version}/rows?split=train&offset=0&limit=20

Errors are JSON 4xx: `message`, and `errors` as [{row, field, message}] for bad rows or arguments.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from pathlib import Path
from typing import Any

import tornado.web

from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.datasets.sources import safe_name

from jupyter_ft.server import params
from jupyter_ft.server.errors import ClientError, PayloadTooLarge
from jupyter_ft.server.handlers import BaseHandler
from jupyter_ft.server.uploads import StreamedUpload

MAX_PAGE = 500
MISSING = object()
DEFAULT_MAX_UPLOAD = 2 * 1024**3

# Import options of an upload, as query parameters or form fields (absent ones keep the catalog's defaults).
UPLOAD_OPTIONS: dict[str, params.Param] = {
    "name": params.Text(MISSING, max_len=64),
    "technique": params.Text(MISSING, max_len=32),
    "mapping": params.Text(MISSING, max_len=64 * 1024),
    "drop_invalid": params.Bool(MISSING),
    "eval_fraction": params.Float(MISSING, min=0.0, max=1.0, max_open=True),
    "seed": params.Int(MISSING, min=0, max=2**32 - 1),
    "max_chars": params.Int(MISSING, min=1, max=10**9, none_words=("none", "null", "0")),
}


class _Base(BaseHandler):
    def version(self, name: str, version: str) -> catalog.DatasetVersion:
        return catalog.get(self.ws, f"{name}@{version}")


@tornado.web.stream_request_body
class DatasetsHandler(_Base):
    """Lists datasets; takes uploads, written to disk chunk by chunk as they arrive (`StreamedUpload`)."""

    upload: StreamedUpload | None = None
    folder: Path | None = None
    failed: BaseException | None = None

    async def prepare(self) -> None:
        await super().prepare()
        if self.request.method != "POST":
            return
        if not self.current_user:
            raise tornado.web.HTTPError(403)
        limit = int(self.settings.get("jupyter_ft_max_upload_bytes", DEFAULT_MAX_UPLOAD))
        self.query(UPLOAD_OPTIONS)  # bad options are refused before the body is read
        length = self.request.headers.get("Content-Length")
        if length and length.isascii() and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge("file", limit)
        # tornado's own cap (a bare 400) sits above ours, so the client gets our 413 naming the limit
        self.request.connection.set_max_body_size(limit + (1 << 20))
        filename = self.query({"filename": params.Text(None, max_len=4096)})["filename"]
        self.folder = catalog.datasets_dir(self.ws) / ".uploads" / secrets.token_hex(8)
        self.upload = StreamedUpload(self.folder, self.request.headers.get("Content-Type", ""), limit,
                                     filename or self.request.headers.get("X-Filename"))

    def data_received(self, chunk: bytes) -> None:
        if self.upload is None or self.failed is not None or self._finished:
            return
        try:
            self.upload.feed(chunk)
        except Exception as exc:  # answer now (e.g. 413) instead of reading the rest of the body
            self.failed = exc
            self.upload.abort()
            self._handle_request_exception(exc)

    def on_finish(self) -> None:
        if self.upload is not None:
            self.upload.abort()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)

    on_connection_close = on_finish

    @tornado.web.authenticated
    def get(self) -> None:
        counts = catalog.version_counts(self.ws)
        self.reply({"datasets": [{**v.to_dict(), "versions": counts.get(v.name, 1)} for v in catalog.list_datasets(self.ws)]})

    @tornado.web.authenticated
    async def post(self) -> None:
        if self._finished:  # already answered from data_received
            return
        assert self.upload is not None
        self.upload.close()
        given = {k: list(self.request.query_arguments.get(k, [])) + self.upload.fields.get(k, []) for k in UPLOAD_OPTIONS}
        opts = {k: v for k, v in params.parse(given, UPLOAD_OPTIONS).items() if v is not MISSING}
        if "mapping" in opts:
            opts["mapping"] = _mapping(opts["mapping"])
        filename, path = self.upload.filename, self.upload.path
        name = opts.pop("name", None) or safe_name(Path(filename).stem)
        version, created = await asyncio.to_thread(
            catalog.add_version, self.ws, path, name, label=filename,
            source_info={"type": "upload", "filename": filename, "path": None}, **opts)
        self.reply({"version": version.to_dict(), "created": created}, 201 if created else 200)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # the stored file has a name of our own; messages show the client's
        if self.upload is not None and self.upload.path is not None and self.upload.filename:
            self._extra_paths = [(str(self.upload.path), self.upload.filename),
                                 (self.upload.path.name, self.upload.filename)]
        super().write_error(status_code, **kwargs)


def _mapping(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ClientError("mapping", f"must be a JSON object {{field: column}}: {exc}") from None
    if not isinstance(value, dict):
        raise ClientError("mapping", "must be a JSON object {field: column}")
    return value


class DatasetHandler(_Base):
    @tornado.web.authenticated
    def get(self, name: str) -> None:
        vs = catalog.versions(self.ws, name)
        self.reply({"name": name, "versions": [v.to_dict() for v in vs]})


class DatasetVersionHandler(_Base):
    @tornado.web.authenticated
    def get(self, name: str, version: str) -> None:
        self.reply({"version": self.version(name, version).to_dict()})


class DatasetRowsHandler(_Base):
    @tornado.web.authenticated
    def get(self, name: str, version: str) -> None:
        v = self.version(name, version)
        args = self.query({"split": params.Choice(catalog.SPLITS, "train"), "offset": params.Int(0),
                           "limit": params.Int(20, min=0, max=MAX_PAGE)})
        split = args["split"]
        total = v.split_rows(split)
        rows = v.rows(args["offset"], args["limit"], split) if args["offset"] < total else []
        self.reply({"ref": v.ref, "split": split, "offset": args["offset"], "limit": args["limit"], "total": total,
                    "format": v.format, "kind": v.kind, "rows": json.loads(json.dumps(rows, default=str))})


# URL patterns of a catalog dataset's name and version, shared by every route under `datasets/{name}/{version}`.
NAME_PATTERN = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)"
VERSION_PATTERN = r"(?P<version>[A-Za-z0-9]+)"


def routes(prefix: str) -> list[tuple[str, type]]:
    name, version = NAME_PATTERN, VERSION_PATTERN
    return [
        (rf"{prefix}/datasets/?", DatasetsHandler),
        (rf"{prefix}/datasets/{name}/?", DatasetHandler),
        (rf"{prefix}/datasets/{name}/{version}/?", DatasetVersionHandler),
        (rf"{prefix}/datasets/{name}/{version}/rows/?", DatasetRowsHandler),
    ]


# --- OpenAPI docs of these routes (see server/openapi.py) ---------------------------------------------------------

from jupyter_ft.server.openapi import ANY_OBJECT, BOOLEAN, INTEGER, NUMBER, STRING, array, doc, example, obj  # noqa: E402

DATASET_VERSION = obj(["name", "version", "ref", "kind", "format", "num_rows", "num_train", "num_eval"],
                      name=STRING, version=STRING, ref={**STRING, "description": "name@version"}, kind=STRING,
                      format=STRING, num_rows=INTEGER, num_train=INTEGER, num_eval=INTEGER, dropped=INTEGER,
                      created_at=NUMBER, conversion={"type": ["object", "array", "string", "null"]},
                      problems={"type": ["array", "object", "null"]}, columns={"type": ["array", "object", "null"]})
_UPLOAD_BODY = obj(["file"], file={"type": "string", "format": "binary", "description": "the data file (jsonl, "
                                   "json, csv, parquet, ...); form fields may carry the import options"})
_DS = {"name": "@dataset"}

DOCS = [
    doc("GET", "datasets", "The catalog: the latest version of each dataset, with its version count",
        response=obj(["datasets"], datasets=array({**DATASET_VERSION, "properties": {
            **DATASET_VERSION["properties"], "versions": INTEGER}})), errors=(), examples=[example()]),
    doc("POST", "datasets", "Upload a dataset file (multipart/form-data, or a raw body with ?filename=): validated, "
        "converted and stored as a new catalog version", body=_UPLOAD_BODY, body_type="multipart/form-data",
        query={**UPLOAD_OPTIONS, "filename": params.Text(None, max_len=4096)}, status=201,
        response=obj(["version", "created"], version=DATASET_VERSION, created={**BOOLEAN, "description":
                     "false: this content was already a version (answered 200)"}), errors=(400, 413),
        examples=[example(query={"eval_fraction": "2"}, status=400), example(query={"seed": "-1"}, status=400)]),
    doc("GET", "datasets/{name}", "Every version of a dataset, newest first",
        response=obj(["name", "versions"], name=STRING, versions=array(DATASET_VERSION)), errors=(404,),
        examples=[example(path=_DS), example(path={"name": "no-such-dataset"}, status=404)]),
    doc("GET", "datasets/{name}/{version}", "One version (`latest`, or a unique prefix of the version)",
        response=obj(["version"], version=DATASET_VERSION), errors=(404,),
        examples=[example(path={**_DS, "version": "latest"}),
                  example(path={**_DS, "version": "ffffffffffff"}, status=404)]),
    doc("GET", "datasets/{name}/{version}/rows", "A page of rows of one split (preference rows keep chosen and "
        "rejected side by side)", query={"split": params.Choice(catalog.SPLITS, "train"), "offset": params.Int(0),
                                         "limit": params.Int(20, min=0, max=MAX_PAGE)},
        response=obj(["ref", "split", "offset", "limit", "total", "rows"], ref=STRING, split=STRING, offset=INTEGER,
                     limit=INTEGER, total=INTEGER, format=STRING, kind=STRING, rows=array(ANY_OBJECT)),
        errors=(400, 404),
        examples=[example(path={**_DS, "version": "latest"}, query={"limit": "2"}),
                  example(path={**_DS, "version": "latest"}, query={"limit": "100000"}, status=400)]),
]
