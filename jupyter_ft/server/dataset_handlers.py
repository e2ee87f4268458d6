"""REST over the dataset catalog: list datasets and versions, get one, page through rows, upload a file.

    GET  /jupyter-ft/api/datasets                              latest version of each dataset (+ version count)
    POST /jupyter-ft/api/datasets?name=..&technique=..         upload: multipart/form-data (field `file`) or a raw
                                                               body with ?filename=data.jsonl; options as query or
                                                               form fields: name, technique, mapping (JSON),
                                                               drop_invalid, eval_fraction, seed, max_chars
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
from jupyter_ft.core.datasets.sources import SUFFIXES, safe_name
from jupyter_ft.core.datasets.errors import DatasetImportError, DatasetNotFound, DatasetValidationError

from .handlers import BaseHandler

MAX_PAGE = 500


class _Base(BaseHandler):
    def version(self, name: str, version: str) -> catalog.DatasetVersion | None:
        try:
            return catalog.get(self.ws, f"{name}@{version}")
        except DatasetNotFound as exc:
            self.fail(404, str(exc))
            return None

    def bad_arg(self, field: str, message: str) -> None:
        self.fail(400, f"{field}: {message}", errors=[{"row": None, "field": field, "message": message}])


class DatasetsHandler(_Base):
    @tornado.web.authenticated
    def get(self) -> None:
        counts = catalog.version_counts(self.ws)
        self.reply({"datasets": [{**v.to_dict(), "versions": counts.get(v.name, 1)} for v in catalog.list_datasets(self.ws)]})

    @tornado.web.authenticated
    async def post(self) -> None:
        opts = self._options()
        if opts is None:
            return
        upload = self._upload()
        if upload is None:
            return
        filename, body = upload
        folder = catalog.datasets_dir(self.ws) / ".uploads" / secrets.token_hex(8)
        folder.mkdir(parents=True)
        path = folder / filename
        try:
            path.write_bytes(body)
            version, created = await asyncio.to_thread(
                catalog.add_version, self.ws, path, opts.pop("name", None) or safe_name(Path(filename).stem),
                label=filename, source_info={"type": "upload", "filename": filename, "path": None}, **opts)
        except DatasetValidationError as exc:
            return self.fail(400, str(exc), errors=exc.errors, counts=exc.report.get("counts", {}),
                             invalid_rows=exc.report.get("invalid_rows"), rows=exc.report.get("rows"))
        except DatasetImportError as exc:
            return self.fail(400, str(exc), errors=exc.errors)
        except Exception as exc:  # an unreadable upload must not become a 500; keep the trace in the server log
            self.log.exception("jupyter_ft: importing upload %s failed", filename)
            return self.fail(422, f"{filename}: cannot import: {type(exc).__name__}: {exc}",
                             errors=[{"row": None, "field": "file", "message": str(exc)}])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.reply({"version": version.to_dict(), "created": created}, 201 if created else 200)

    def _arg(self, key: str) -> str | None:
        v = self.get_query_argument(key, None)
        if v is None:
            v = self.get_body_argument(key, None) if self.request.files else None
        return v

    def _options(self) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for key in ("name", "technique"):
            if (v := self._arg(key)) not in (None, ""):
                out[key] = v
        if (v := self._arg("mapping")) not in (None, ""):
            try:
                out["mapping"] = json.loads(v)
            except ValueError as exc:
                return self.bad_arg("mapping", f"must be a JSON object {{field: column}}: {exc}")
            if not isinstance(out["mapping"], dict):
                return self.bad_arg("mapping", "must be a JSON object {field: column}")
        if (v := self._arg("drop_invalid")) not in (None, ""):
            if v.lower() not in ("true", "false", "1", "0", "yes", "no"):
                return self.bad_arg("drop_invalid", f"must be true or false, got {v!r}")
            out["drop_invalid"] = v.lower() in ("true", "1", "yes")
        for key, conv in (("eval_fraction", float), ("seed", int), ("max_chars", int)):
            if (v := self._arg(key)) not in (None, ""):
                if key == "max_chars" and v.lower() in ("none", "null", "0"):
                    out[key] = None
                    continue
                try:
                    out[key] = conv(v)
                except ValueError:
                    return self.bad_arg(key, f"must be a{'n integer' if conv is int else ' number'}, got {v!r}")
        return out

    def _upload(self) -> tuple[str, bytes] | None:
        files = self.request.files
        if files:
            f = (files.get("file") or next(iter(files.values())))[0]
            filename, body = f["filename"], f["body"]
        else:
            filename = self.get_query_argument("filename", None) or self.request.headers.get("X-Filename")
            body = self.request.body or b""
            if not filename:
                return self.bad_arg("filename", "send the file as multipart/form-data (field 'file') or give "
                                                "?filename=NAME.jsonl with a raw body")
        filename = Path(filename.replace("\\", "/")).name
        if Path(filename).suffix.lower() not in SUFFIXES:
            return self.bad_arg("filename", f"{filename!r} must end in one of {', '.join(sorted(SUFFIXES))}")
        return filename, body


class DatasetHandler(_Base):
    @tornado.web.authenticated
    def get(self, name: str) -> None:
        try:
            vs = catalog.versions(self.ws, name)
        except DatasetNotFound as exc:
            return self.fail(404, str(exc))
        self.reply({"name": name, "versions": [v.to_dict() for v in vs]})


class DatasetVersionHandler(_Base):
    @tornado.web.authenticated
    def get(self, name: str, version: str) -> None:
        if v := self.version(name, version):
            self.reply({"version": v.to_dict()})


class DatasetRowsHandler(_Base):
    @tornado.web.authenticated
    def get(self, name: str, version: str) -> None:
        v = self.version(name, version)
        if v is None:
            return
        split = self.get_query_argument("split", "train")
        if split not in catalog.SPLITS:
            return self.bad_arg("split", f"must be one of {', '.join(catalog.SPLITS)}, got {split!r}")
        args = {}
        for key, default in (("offset", "0"), ("limit", "20")):
            raw = self.get_query_argument(key, default)
            if not raw.isdigit():
                return self.bad_arg(key, f"must be a non-negative integer, got {raw!r}")
            args[key] = int(raw)
        if args["limit"] > MAX_PAGE:
            return self.bad_arg("limit", f"at most {MAX_PAGE} rows per page, got {args['limit']}")
        total = v.split_rows(split)
        rows = v.rows(args["offset"], args["limit"], split) if args["offset"] < total else []
        self.reply({"ref": v.ref, "split": split, "offset": args["offset"], "limit": args["limit"], "total": total,
                    "format": v.format, "kind": v.kind, "rows": json.loads(json.dumps(rows, default=str))})


def routes(prefix: str) -> list[tuple[str, type]]:
    name = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)"
    version = r"(?P<version>[A-Za-z0-9]+)"
    return [
        (rf"{prefix}/datasets/?", DatasetsHandler),
        (rf"{prefix}/datasets/{name}/?", DatasetHandler),
        (rf"{prefix}/datasets/{name}/{version}/?", DatasetVersionHandler),
        (rf"{prefix}/datasets/{name}/{version}/rows/?", DatasetRowsHandler),
    ]
