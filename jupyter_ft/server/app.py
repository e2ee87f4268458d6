"""`ExtensionApp` wiring: routes under `<base_url>/jupyter-ft/api/`, the workspace built once at start."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Integer

from jupyter_ft.core import endpoints, jobstore
from jupyter_ft.core.api import workspace
from jupyter_ft.core.scheduler import ensure_scheduler

from . import dataset_handlers, endpoint_handlers, eval_handlers, handlers

PREFIX = "jupyter-ft/api"


class JupyterFTApp(ExtensionApp):
    name = "jupyter_ft"

    max_upload_bytes = Integer(
        dataset_handlers.DEFAULT_MAX_UPLOAD, min=1, config=True,
        help="Largest dataset upload accepted over REST, in bytes (streamed to disk; larger ones get a 413).")

    def initialize_settings(self) -> None:
        ws = workspace()
        self.settings["jupyter_ft_workspace"] = ws
        self.settings["jupyter_ft_max_upload_bytes"] = self.max_upload_bytes
        # After a server restart, make sure queued work is picked up and running jobs are watched again.
        if jobstore.list_jobs(ws, ["queued", "running"]) or endpoints.wanted(ws):
            ensure_scheduler(ws)
        self.log.info("jupyter_ft workspace: %s", ws.root)

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers.routes(PREFIX))
        self.handlers.extend(dataset_handlers.routes(PREFIX))
        self.handlers.extend(eval_handlers.routes(PREFIX))
        self.handlers.extend(endpoint_handlers.routes(PREFIX) + endpoint_handlers.proxy_routes())
        # Keep last: anything else under the namespace is a JSON 404.
        self.handlers.append(handlers.fallback_route(PREFIX))
