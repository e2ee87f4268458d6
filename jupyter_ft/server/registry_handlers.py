"""REST routes of the model registry and lineage. Thin: parse, call `core.registry` / `sdk.models` /
`core.registry.lineage` (a lineage goes out with core's layout of it, so the Studio draws what the notebook widget draws),
serialise. An unknown model, version or alias is a 404 listing the known ones; an alias move that lacks its evidence
is a 409 saying what is missing; a bad alias or parameter a 400 naming the field."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Iterator

import tornado.web

from jupyter_ft.core.registry import lineage
from jupyter_ft.core.registry.lineage_layout import layout as lineage_layout
from jupyter_ft.sdk import models as model_handles
from jupyter_ft.core.registry import versions as registry

from jupyter_ft.server import params
from jupyter_ft.server.errors import ClientError
from jupyter_ft.server.handlers import BaseHandler, finite
from jupyter_ft.server.openapi import (ANY_OBJECT, BOOLEAN, INTEGER, NULLABLE_STRING, NUMBER, STRING, array, doc,
                                      example, obj)


@contextmanager
def _mapped(field: str = "name") -> Iterator[None]:
    try:
        yield
    except registry.UnknownModel as exc:
        raise ClientError(field, str(exc), status=404) from None
    except model_handles.AliasRefused as exc:
        raise ClientError("require_better_than" if "better" in str(exc) or "fell short" in str(exc) else "evidence",
                          str(exc), status=409) from None


class ModelsHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        self.reply(finite({"models": registry.list_models(self.ws)}))


class ModelHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, name: str) -> None:
        with _mapped():
            self.reply(finite(registry.model_dict(self.ws, registry.version_number(self.ws, name)[0])))


class ModelVersionHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, name: str, version: str) -> None:
        with _mapped("version"):
            mv = registry.resolve_indexed(self.ws, *registry.version_number(self.ws, f"{name}@{version}"))
            self.reply(finite(registry.version_dict(mv, self.ws)))


class AliasesHandler(BaseHandler):
    @tornado.web.authenticated
    async def post(self, name: str) -> None:
        body = self.json_body()
        unknown = set(body) - {"alias", "version", "evidence", "require_better_than", "metric"}
        if unknown:
            raise ClientError(sorted(unknown)[0], "unknown field; expected alias, version, evidence, "
                                                  "require_better_than, metric")
        alias = body.get("alias")
        if not isinstance(alias, str) or not alias:
            raise ClientError("alias", "required: the alias to move (e.g. 'champion')")
        version = body.get("version")
        if isinstance(version, bool) or not isinstance(version, (int, str)) or not str(version).isdigit():
            raise ClientError("version", f"required: the version number the alias should point at, got {version!r}")
        for f in ("evidence", "require_better_than", "metric"):
            if body.get(f) is not None and not isinstance(body[f], str):
                raise ClientError(f, "must be a string")
        with _mapped():
            try:
                move = await asyncio.to_thread(
                    model_handles.set_alias, name, alias, version=int(version), evidence=body.get("evidence"),
                    require_better_than=body.get("require_better_than"), metric=body.get("metric"), ws=self.ws)
            except ValueError as exc:
                if isinstance(exc, (registry.UnknownModel, model_handles.AliasRefused)):
                    raise
                raise ClientError("alias", str(exc)) from None
        self.reply(finite({"move": move, "model": registry.model_dict(self.ws, name)}))


class AliasHistoryHandler(BaseHandler):
    @tornado.web.authenticated
    async def get(self, name: str) -> None:
        with _mapped():
            history = await asyncio.to_thread(model_handles.alias_history, name, self.ws)
        self.reply(finite({"history": history}))


class LineageHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        q = self.query({"ref": params.Text(), "dataset": params.Text()})
        ref, dataset = q["ref"], q["dataset"]
        if bool(ref) == bool(dataset):
            raise ClientError("ref", "give one of ?ref=name@version (a model version) or ?dataset=name@version")
        with _mapped("ref"):
            try:
                lin = lineage.lineage(ref, dataset=dataset, ws=self.ws)
            except ValueError as exc:
                if isinstance(exc, registry.UnknownModel):
                    raise
                raise ClientError("dataset", str(exc), status=404) from None
        data = lin.to_dict()
        self.reply(finite({**data, "layout": lineage_layout(data)}))


def routes(prefix: str) -> list[tuple[str, type]]:
    name = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)"
    return [
        (rf"{prefix}/models/?", ModelsHandler),
        (rf"{prefix}/models/{name}/?", ModelHandler),
        (rf"{prefix}/models/{name}/versions/(?P<version>[A-Za-z0-9_\-]+)/?", ModelVersionHandler),
        (rf"{prefix}/models/{name}/aliases/?", AliasesHandler),
        (rf"{prefix}/models/{name}/aliases/history/?", AliasHistoryHandler),
        (rf"{prefix}/lineage/?", LineageHandler),
    ]


_NAME = {"name": "no-such-model"}
_VERSION = obj(["version", "base_model", "kind", "technique", "job_id", "run_id", "dataset", "created_at", "metrics",
                "aliases", "mlflow_url"], version=INTEGER, base_model=STRING, kind=STRING, technique=NULLABLE_STRING,
               job_id=NULLABLE_STRING, run_id=NULLABLE_STRING, dataset=NULLABLE_STRING, created_at=NUMBER,
               metrics=ANY_OBJECT, aliases=array(STRING), mlflow_url=NULLABLE_STRING)
_MODEL = obj(["name", "aliases", "latest_version", "versions"], name=STRING, description=STRING, aliases=ANY_OBJECT,
             latest_version=INTEGER, versions=array(_VERSION))
_MOVE = obj(["alias", "from_version", "to_version", "user", "at", "evidence"], alias=STRING,
            from_version={"type": ["integer", "null"]}, to_version={"type": ["integer", "null"]}, user=STRING,
            at=NUMBER, evidence=NULLABLE_STRING)
_LINEAGE = obj(["root", "nodes", "edges", "layout"], root=STRING,
               nodes=array(obj(["id", "kind", "label", "details", "mlflow_url"], id=STRING, kind=STRING, label=STRING,
                               details=ANY_OBJECT, mlflow_url=NULLABLE_STRING)),
               edges=array(obj(["from", "to", "relation"], **{"from": STRING, "to": STRING, "relation": STRING})),
               layout=obj(["nodes", "edges", "titles", "width", "height"],
                          nodes=array(obj(["id", "kind", "label", "short", "layer", "x", "y", "w", "h", "root"],
                                          id=STRING, kind=STRING, label=STRING, short=STRING, layer=INTEGER,
                                          x=NUMBER, y=NUMBER, w=NUMBER, h=NUMBER, root=BOOLEAN)),
                          edges=array(obj(["from", "to", "relation", "d"], **{"from": STRING, "to": STRING,
                                                                             "relation": STRING, "d": STRING})),
                          titles=array(obj(["x", "text"], x=NUMBER, text=STRING)), width=NUMBER, height=NUMBER))

DOCS = [
    doc("GET", "models", "Registered models with their versions, aliases, metrics and MLflow links",
        response=obj(["models"], models=array(_MODEL)), examples=[example()]),
    doc("GET", "models/{name}", "One registered model (404 lists the registered ones)", response=_MODEL,
        errors=(404,), examples=[example(path=_NAME, status=404)]),
    doc("GET", "models/{name}/versions/{version}", "One version (a number or an alias) with every tag, its folder "
        "and the evaluations and endpoints linked to it", response=_VERSION, errors=(404,),
        examples=[example(path={**_NAME, "version": "1"}, status=404)]),
    doc("POST", "models/{name}/aliases", "Move an alias; with `require_better_than`, only when a linked evaluation "
        "shows the version ahead beyond the 95% interval (409 says what is missing or how far short it fell)",
        body=obj(["alias", "version"], alias=STRING, version=INTEGER, evidence=STRING, require_better_than=STRING,
                 metric=STRING),
        response=obj(["move", "model"], move=_MOVE, model=_MODEL), errors=(400, 404, 409),
        examples=[example(path=_NAME, body={}, status=400),
                  example(path=_NAME, body={"alias": "champion", "version": 1}, status=404)]),
    doc("GET", "models/{name}/aliases/history", "Every alias move of the model, oldest first (who, when, from, to, "
        "evidence)", response=obj(["history"], history=array(_MOVE)), errors=(404,),
        examples=[example(path=_NAME, status=404)]),
    doc("GET", "lineage", "The lineage of a model version (`ref=name@3`) or, forward, of a dataset version "
        "(`dataset=name@v`), with its `layout`: node boxes, edge paths and column titles as every face draws them",
        response=_LINEAGE, errors=(400, 404),
        query={"ref": params.Text(), "dataset": params.Text()},
        examples=[example(status=400), example(query={"ref": "no-such-model@1"}, status=404)]),
]
