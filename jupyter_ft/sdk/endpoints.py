"""`ft.deploy`, `ft.endpoints`, `ft.endpoint`: the Python face of `core.deploy.endpoints` (keyword arguments in, the one
`DeploySpec` built from them, progress printed while the server starts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_ft.core.deploy import endpoints as _endpoints
from jupyter_ft.core.workspace import Workspace, workspace
from jupyter_ft.core.spec.deploy import parse_deploy_spec


def deploy(base: str | None = None, adapters: list[str] | tuple[str, ...] | str | None = None, name: str = "default",
           engine: str = "local", port: int | None = None, host: str = "127.0.0.1", *, wait: bool = True,
           timeout: float | None = None, quiet: bool = False, ws: Workspace | str | Path | None = None,
           **options: Any) -> _endpoints.Endpoint:
    """Serve `base` and LoRA `adapters` (registry refs `name@3` / `name@champion`, job ids or adapter folders)
    behind one OpenAI-compatible endpoint; returns its `Endpoint` once it answers (unless `wait=False`).
    Other `DeploySpec` fields (max_batch_size, max_queue, device, max_loras, max_lora_rank) go in `options`."""
    if isinstance(adapters, str):
        adapters = [adapters]
    spec = parse_deploy_spec({"name": name, "base": base, "adapters": list(adapters or []), "engine": engine,
                              "port": port, "host": host, **options})
    say = None if quiet else (lambda line: print(line, flush=True))
    return _endpoints.deploy(spec, workspace(ws), wait=wait, timeout=timeout, progress=say)


def endpoints(ws: Workspace | str | Path | None = None) -> list[_endpoints.Endpoint]:
    """Every endpoint of the workspace with its URL, models, state and load (stopped ones too)."""
    return _endpoints.endpoints(workspace(ws))


def endpoint(name: str, ws: Workspace | str | Path | None = None) -> _endpoints.Endpoint:
    """The endpoint called `name` (unknown names raise `EndpointNotFound` listing the known ones)."""
    return _endpoints.get(workspace(ws), name)
