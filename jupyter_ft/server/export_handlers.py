"""REST route of exports: `POST models/{name}/versions/{version}/export` (a registered version) and `POST export`
(any reference `ft.export` takes: `name@alias`, a job id, an adapter folder). Thin: parse the body, call
`core.registry.export` in a worker thread (the torch work runs in its own process, never in the server), serialise.

Paths are read from the Jupyter server's root and must stay inside it, as for the contents API; the reply names
files relative to that root, never a server path."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import tornado.web

from jupyter_ft.core.registry import export

from jupyter_ft.server.errors import ClientError
from jupyter_ft.server.handlers import BaseHandler

FIELDS = {"path", "merge", "overwrite", "gguf", "ref"}


class _ExportBase(BaseHandler):
    def _root(self) -> Path:
        return Path(self.settings.get("server_root_dir") or os.getcwd()).resolve()

    def _shown(self, path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            return str(Path(path).resolve().relative_to(self._root()))
        except ValueError:
            return Path(path).name

    async def _export(self, ref: str, body: dict[str, Any]) -> None:
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise ClientError(unknown[0], f"unknown field; the fields are {', '.join(sorted(FIELDS - {'ref'}))}")
        path = body.get("path")
        if not isinstance(path, str) or not path.strip():
            raise ClientError("path", "name the folder to export into (relative to the Jupyter server's root)")
        root = self._root()
        target = Path(os.path.abspath(root / Path(path).expanduser()))
        if target != root and root not in target.parents:
            raise ClientError("path", f"{path!r} is outside the Jupyter server's root; name a folder inside it")
        try:
            plan = await asyncio.to_thread(export.plan, self.ws, ref, target, merge=body.get("merge", True),
                                           overwrite=body.get("overwrite", False), gguf=body.get("gguf"),
                                           base_dir=root)
            self.log.info("jupyter_ft: exporting %s to %s", ref, target)
            result = await asyncio.to_thread(export.run, plan,
                                             lambda e: self.log.info("jupyter_ft: export %s: %s", ref, e))
        except export.ExportError as exc:
            status = 404 if exc.not_found else 400
            raise ClientError(exc.field, exc.message.replace(str(root) + os.sep, ""), status=status) from None
        self.reply({"export": {**result.to_dict(), "path": self._shown(result.path),
                               "gguf_path": self._shown(result.gguf_path), "modelfile": self._shown(result.modelfile),
                               "notes": [n.replace(str(root) + os.sep, "") for n in result.notes]}}, 201)


class VersionExportHandler(_ExportBase):
    @tornado.web.authenticated
    async def post(self, name: str, version: str) -> None:
        body = self.json_body()
        if "ref" in body:
            raise ClientError("ref", "the model is named by the URL (models/{name}/versions/{version}/export)")
        await self._export(f"{name}@{version}", body)


class ExportHandler(_ExportBase):
    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        ref = body.pop("ref", None)
        if not isinstance(ref, str) or not ref.strip():
            raise ClientError("ref", "name the model: a registered name@version or name@alias, a job id or an "
                                     "adapter folder")
        await self._export(ref, body)


def routes(prefix: str) -> list[tuple[str, type]]:
    name = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)"
    version = r"(?P<version>[A-Za-z0-9_.-]+)"
    return [
        (rf"{prefix}/models/{name}/versions/{version}/export/?", VersionExportHandler),
        (rf"{prefix}/export/?", ExportHandler),
    ]


# --- OpenAPI (see server/openapi.py) ---------------------------------------------------------------------------

from jupyter_ft.server.openapi import (BOOLEAN, NULLABLE_NUMBER, NULLABLE_STRING, NUMBER, STRING, array, doc, example, obj)  # noqa: E402

_OPTIONS = {"path": {**STRING, "description": "folder to write, relative to the Jupyter server's root"},
            "merge": {**BOOLEAN, "default": True, "description": "merged weights (true) or the adapter (false)"},
            "overwrite": {**BOOLEAN, "default": False, "description": "replace a non-empty folder"},
            "gguf": {"type": ["boolean", "string", "null"], "enum": [True, False, None, *export.GGUF_OUTTYPES],
                     "description": "null: GGUF too when llama.cpp's converter is installed; true or a type: "
                                    "required; false: never"}}
_RESULT = obj(["export"], export=obj(
    ["path", "files", "merged", "card"], path=STRING, files=array(STRING), gguf_path=NULLABLE_STRING,
    modelfile=NULLABLE_STRING, card=STRING, merged=BOOLEAN, source=STRING, seconds=NUMBER,
    peak_rss_bytes=NULLABLE_NUMBER, notes=array(STRING)))

DOCS = [
    doc("POST", "models/{name}/versions/{version}/export", "Export a registered model version as a Hugging Face "
        "folder (merged weights or the adapter, tokenizer, generation config, lineage model card; GGUF + Ollama "
        "Modelfile when llama.cpp's converter is installed)", body=obj(["path"], **_OPTIONS), response=_RESULT,
        status=201, errors=(400, 404),
        examples=[example(path={"name": "no-such-model", "version": "1"}, body={"path": "out"}, status=404),
                  example(path={"name": "no-such-model", "version": "1"}, body={}, status=400)]),
    doc("POST", "export", "Export any model reference `ft.export` takes (name@version, name@alias, a job id, an "
        "adapter folder)", body=obj(["ref", "path"], ref=STRING, **_OPTIONS), response=_RESULT, status=201,
        errors=(400, 404),
        examples=[example(body={"ref": "@job", "path": "out"}, status=400),
                  example(body={"ref": "no-such-model", "path": "out"}, status=404),
                  example(body={"ref": "@job", "path": "../outside"}, status=400)]),
]
