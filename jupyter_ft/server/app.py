"""`ExtensionApp` wiring: routes under `<base_url>/jupyter-ft/api/`, the workspace built once at start."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Integer, List, Unicode

from jupyter_ft.core.deploy import endpoints
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.workspace import workspace
from jupyter_ft.core.jobs.daemon import ensure_scheduler

from jupyter_ft.server import dataset_handlers, eval_handlers, handlers, openapi  # noqa: I001  (one module per line below: fewer merge conflicts)
from jupyter_ft.server import export_handlers
from jupyter_ft.server import studio_handlers
from jupyter_ft.server import playground_handlers
from jupyter_ft.server import catalog_handlers
from jupyter_ft.server import registry_handlers
from jupyter_ft.server import mlflow_ui
from jupyter_ft.server import endpoint_handlers

PREFIX = "jupyter-ft/api"


class JupyterFTApp(ExtensionApp):
    name = "jupyter_ft"

    max_upload_bytes = Integer(
        dataset_handlers.DEFAULT_MAX_UPLOAD, min=1, config=True,
        help="Largest dataset upload accepted over REST, in bytes (streamed to disk; larger ones get a 413).")

    model_folders = List(
        Unicode(), config=True,
        help="Folders the base-model catalog lists: each one that holds a config.json, or its immediate subfolders "
             "that do. Empty (default): the workspace's models/ folder and the server's root.")

    def initialize_settings(self) -> None:
        ws = workspace()
        self.settings["jupyter_ft_workspace"] = ws
        self.settings["jupyter_ft_max_upload_bytes"] = self.max_upload_bytes
        self.settings["jupyter_ft_model_folders"] = list(self.model_folders)
        # started on first use; stopped in stop_extension
        self.settings["jupyter_ft_mlflow_ui"] = mlflow_ui.MLflowUI(ws, self.serverapp.base_url)
        # After a server restart, make sure queued work is picked up and running jobs are watched again.
        if jobstore.list_jobs(ws, ["queued", "running"]) or endpoints.wanted(ws):
            ensure_scheduler(ws)
        self.log.info("jupyter_ft workspace: %s", ws.root)

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers.routes(PREFIX))
        self.handlers.extend(dataset_handlers.routes(PREFIX))
        self.handlers.extend(eval_handlers.routes(PREFIX))
        self.handlers.extend(playground_handlers.routes(PREFIX))
        self.handlers.extend(openapi.routes(PREFIX))
        self.handlers.extend(studio_handlers.routes(PREFIX))
        self.handlers.extend(export_handlers.routes(PREFIX))
        self.handlers.extend(catalog_handlers.routes(PREFIX))
        self.handlers.extend(registry_handlers.routes(PREFIX))
        self.handlers.extend(mlflow_ui.routes(PREFIX))
        self.handlers.extend(endpoint_handlers.routes(PREFIX) + endpoint_handlers.proxy_routes())
        # Keep last: anything else under the namespace is a JSON 404.
        self.handlers.append(handlers.fallback_route(PREFIX))

    async def stop_extension(self) -> None:
        mlflow_ui.stop(self.settings)
