"""REST routes the Studio (the JupyterLab sidebar) needs beside the others:

    GET /jupyter-ft/api/templates                       the shipped notebook templates
    GET /jupyter-ft/api/templates/{name}                one template's notebook JSON (the sidebar saves a copy
                                                        through the contents API)
    GET /jupyter-ft/api/datasets/{name}/{version}/tokens?model=..&max_length=1024&split=train
                                                        token statistics against a model's tokenizer, measured
                                                        in a child process (the server never imports
                                                        transformers); errors name `model` or the dataset
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import tornado.web

from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.train import model_source

from jupyter_ft.server import params
from jupyter_ft.server.errors import ClientError
from jupyter_ft.server.handlers import BaseHandler

TOKENS_TIMEOUT_S = 300.0

# name -> (file name, what it is)
TEMPLATES = {
    "quickstart": ("dpo_human_like.ipynb",
                   "DPO quick start: the human-like preference data, a tiny model, MLflow, the learned preference"),
}


def template_path(filename: str) -> Path | None:
    """The shipped copy (`jupyter_ft/templates/`, in the wheel) or the source tree's `notebooks/`."""
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "templates", package.parent / "notebooks"):
        if (folder / filename).is_file():
            return folder / filename
    return None


class TemplatesHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        self.reply({"templates": [{"name": n, "filename": f, "description": d, "available": template_path(f) is not None}
                                  for n, (f, d) in TEMPLATES.items()]})


class TemplateHandler(BaseHandler):
    @tornado.web.authenticated
    def get(self, name: str) -> None:
        if name not in TEMPLATES:
            raise ClientError("name", f"no template {name!r}; templates: {', '.join(TEMPLATES)}", status=404)
        filename, description = TEMPLATES[name]
        path = template_path(filename)
        if path is None:
            raise ClientError("name", f"template {name!r} ({filename}) is not installed with this jupyter_ft",
                              status=404)
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for cell in notebook.get("cells", []):  # a fresh copy: no outputs from whoever ran it last
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
        self.reply({"name": name, "filename": filename, "description": description, "notebook": notebook})


class DatasetTokensHandler(BaseHandler):
    QUERY = {"model": params.Text(None, max_len=4096), "max_length": params.Int(1024, min=1, max=10**7),
             "split": params.Choice(catalog.SPLITS, "train")}

    @tornado.web.authenticated
    async def get(self, name: str, version: str) -> None:
        q = self.query(self.QUERY)
        if not q["model"] or not q["model"].strip():
            raise ClientError("model", "give the model (a local folder or hub id) whose tokenizer measures the rows")
        v = catalog.get(self.ws, f"{name}@{version}")  # unknown dataset/version: a 404 before any child starts
        model = q["model"].strip()
        root = self.settings.get("server_root_dir")
        if root and not Path(model).expanduser().is_absolute() and (Path(root) / model).exists():
            model = str(Path(root) / model)  # a relative folder, as the file browser shows it
        if Path(model).expanduser().is_absolute() and not Path(model).expanduser().exists():
            raise ClientError("model", f"no such model folder: {q['model'].strip()}")
        try:  # a fetched model's name, or a GGUF: its converted folder
            src = await asyncio.to_thread(model_source.resolve, model, self.ws, root)
        except model_source.ModelSourceError as exc:
            raise ClientError("model", str(exc)) from None
        model = src.folder if src is not None else model
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "jupyter_ft.training.token_stats_main", "--workspace", str(self.ws.root),
            "--ref", v.ref, "--model", model, "--max-length", str(q["max_length"]), "--split", q["split"],
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), TOKENS_TIMEOUT_S)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise ClientError("model", f"measuring took longer than {TOKENS_TIMEOUT_S:.0f} s; stopped", status=504)
        lines = [ln for ln in out.decode("utf-8", "replace").splitlines() if ln.startswith("{")]
        answer = json.loads(lines[-1]) if lines else {}
        if proc.returncode == 0 and "stats" in answer:
            self.reply({"stats": answer["stats"]})
            return
        if "error" in answer:
            raise ClientError(answer.get("field") or "model", answer["error"])
        self.log.error("token statistics of %s failed (exit %s): %s", v.ref, proc.returncode,
                       err.decode("utf-8", "replace")[-2000:])
        raise RuntimeError("token statistics failed")


def routes(prefix: str) -> list[tuple[str, type]]:
    from jupyter_ft.server.dataset_handlers import NAME_PATTERN as name, VERSION_PATTERN as version

    return [
        (rf"{prefix}/templates/?", TemplatesHandler),
        (rf"{prefix}/templates/(?P<name>[A-Za-z0-9_-]+)/?", TemplateHandler),
        (rf"{prefix}/datasets/{name}/{version}/tokens/?", DatasetTokensHandler),
    ]


# --- OpenAPI docs of these routes (see server/openapi.py) ---------------------------------------------------------

from jupyter_ft.server.openapi import ANY_OBJECT, BOOLEAN, INTEGER, NUMBER, STRING, array, doc, example, obj  # noqa: E402

TEMPLATE_ITEM = obj(["name", "filename", "description", "available"], name=STRING, filename=STRING,
                    description=STRING, available=BOOLEAN)
TOKEN_STATS = obj(["ref", "split", "rows", "measured", "max_length", "over_max_length", "p50", "histogram"],
                  ref=STRING, split=STRING, rows=INTEGER, measured=INTEGER, max_length=INTEGER,
                  over_max_length=INTEGER, over_fraction=NUMBER, min=INTEGER, mean=NUMBER, p50=NUMBER, p90=NUMBER,
                  p99=NUMBER, max=INTEGER,
                  histogram=obj(["edges", "counts"], edges=array(NUMBER), counts=array(INTEGER)))
_DS = {"name": "@dataset", "version": "latest"}

DOCS = [
    doc("GET", "templates", "The notebook templates shipped with jupyter_ft (the Studio's quick-start notebook)",
        response=obj(["templates"], templates=array(TEMPLATE_ITEM)), errors=(), tags=("studio",),
        examples=[example()]),
    doc("GET", "templates/{name}", "One template's notebook (nbformat JSON, outputs cleared), for a client to save "
        "a copy through the contents API", response=obj(["name", "filename", "notebook"], name=STRING,
                                                         filename=STRING, description=STRING, notebook=ANY_OBJECT),
        errors=(404,), tags=("studio",),
        examples=[example(path={"name": "quickstart"}), example(path={"name": "no-such-template"}, status=404)]),
    doc("GET", "datasets/{name}/{version}/tokens", "Token lengths of a version's rows as the technique tokenizes "
        "them with a model's tokenizer: percentiles, histogram, rows over max_length (measured in a child "
        "process, on a seeded sample of at most 10,000 rows)", query=DatasetTokensHandler.QUERY,
        response=obj(["stats"], stats=TOKEN_STATS), errors=(400, 404, 504),
        examples=[example(path=_DS, status=400, summary="no model given"),
                  example(path={"name": "no-such-dataset", "version": "latest"}, query={"model": "m"}, status=404)]),
]
