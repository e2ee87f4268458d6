"""`ExtensionApp` wiring: routes under `<base_url>/jupyter-ft/api/`, the workspace built once at start."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from jupyter_ft.core import jobstore
from jupyter_ft.core.api import workspace
from jupyter_ft.core.scheduler import ensure_scheduler

from . import dataset_handlers, eval_handlers, handlers


class JupyterFTApp(ExtensionApp):
    name = "jupyter_ft"

    def initialize_settings(self) -> None:
        ws = workspace()
        self.settings["jupyter_ft_workspace"] = ws
        # After a server restart, make sure queued work is picked up and running jobs are watched again.
        if jobstore.list_jobs(ws, ["queued", "running"]):
            ensure_scheduler(ws)
        self.log.info("jupyter_ft workspace: %s", ws.root)

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers.routes("jupyter-ft/api"))
        self.handlers.extend(dataset_handlers.routes("jupyter-ft/api"))
        self.handlers.extend(eval_handlers.routes("jupyter-ft/api"))
