"""jupyter_ft: LLM fine-tuning inside JupyterLab: one core, three faces (widgets, REST sidebar, magics/SDK).

    import jupyter_ft as ft
    job = ft.train(model="./tiny", dataset="chat.jsonl", technique="sft", max_steps=20)

Importing this package is cheap: every public name below is resolved from its module on first use (module
`__getattr__`), so a kernel, the CLI and a job process load only what they touch; torch, TRL and MLflow load only
in the processes that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> the module that defines it (a module itself where the name is a submodule: ft.datasets, ft.ui)
_PUBLIC: dict[str, str] = {
    **dict.fromkeys(["EvalJob", "Job", "JobFailed", "cancel", "get_job", "jobs", "preview", "reproduce", "submit",
                     "train", "workspace"], "jupyter_ft.sdk.jobs"),
    **dict.fromkeys(["compare_style", "dry_run_evaluator", "eval_jobs", "eval_results", "evaluate"],
                    "jupyter_ft.sdk.evaluations"),
    **dict.fromkeys(["deploy", "endpoint", "endpoints"], "jupyter_ft.sdk.endpoints"),
    **dict.fromkeys(["model", "models"], "jupyter_ft.sdk.models"),
    **dict.fromkeys(["SpecError", "TrainSpec"], "jupyter_ft.core.spec.train"),
    "EvalSpec": "jupyter_ft.core.spec.eval",
    "DeploySpec": "jupyter_ft.core.spec.deploy",
    **dict.fromkeys(["ExportError", "ExportResult", "export"], "jupyter_ft.core.registry.export"),
    "lineage": "jupyter_ft.core.registry.lineage",
    "make_tiny_model": "jupyter_ft.training.tiny_model",
    "__version__": "jupyter_ft.core",
}
_SUBMODULES: dict[str, str] = {
    "datasets": "jupyter_ft.sdk.datasets",      # ft.datasets: the dataset catalog
    "playground": "jupyter_ft.sdk.playground",  # ft.playground: votes and the preference dataset they become
    "rewards": "jupyter_ft.sdk.rewards",        # ft.rewards: built-in rewards, dry run
    "ui": "jupyter_ft.widgets.ui",              # ft.ui: the notebook panels, each importing ipywidgets when opened
}

__all__ = sorted([n for n in _PUBLIC if not n.startswith("_")] + list(_SUBMODULES))

if TYPE_CHECKING:  # for type checkers and editors; never run
    from jupyter_ft.core.registry.export import ExportError, ExportResult, export  # noqa: F401
    from jupyter_ft.sdk.jobs import EvalJob, Job, JobFailed, submit, train  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    elif name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython) -> None:
    """`%load_ext jupyter_ft`: the `%ft`, `%%ft_train`, `%%ft_eval`, `%%ft_chat` and `%ft_deploy` magics."""
    from jupyter_ft.magics import load_ipython_extension as load

    load(ipython)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from jupyter_ft.server import JupyterFTApp

    return [{"module": "jupyter_ft.server", "app": JupyterFTApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter_ft"}]
