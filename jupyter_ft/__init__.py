"""jupyter_ft: LLM fine-tuning inside JupyterLab: one core, three faces (widgets, REST sidebar, magics/SDK).

Importing this package is cheap: torch, TRL and MLflow load only in the processes that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .core.api import Job, JobFailed, cancel, get_job, jobs, preview, submit, train, workspace  # noqa: E402
from .core.specs import SpecError, TrainSpec  # noqa: E402
from .core.eval_spec import EvalSpec  # noqa: E402
from .core.evaluation import EvalJob, dry_run_evaluator, eval_jobs, evaluate  # noqa: E402
from .core.evaluation import results as _eval_results  # noqa: E402
from .core.export import ExportError, ExportResult, export  # noqa: E402  (torch runs in a worker process)
from .core.deploy_api import deploy, endpoint, endpoints  # noqa: E402  (endpoints: ft.deploy / ft.endpoints)
from .core.deploy_spec import DeploySpec  # noqa: E402


def eval_results(job_id: str, workspace_root=None) -> dict:
    """The results of an evaluation job (metrics with 95% intervals, per-sample answers and scores, errors),
    current while it runs; see `jupyter_ft.core.evaluation.results` for the schema."""
    return _eval_results(workspace(workspace_root) if workspace_root else None, job_id)
from .core.model_handles import model, models  # noqa: E402  (the model registry: ft.models(), ft.model("name@3"))
from .core.lineage import lineage  # noqa: E402
from .core.reproduce import reproduce  # noqa: E402
from . import datasets  # noqa: E402  (ft.datasets: the dataset catalog)
from . import ui  # noqa: E402  (cheap: each panel imports ipywidgets/plotly when opened)
from . import playground  # noqa: E402  (ft.playground: votes and the preference dataset they become)


def make_tiny_model(output_dir, **kwargs):
    """Build a tiny random-weight Llama model + BPE tokenizer offline (see `jupyter_ft.training.tiny_model`)."""
    from .training.tiny_model import make_tiny_model as _make

    return _make(output_dir, **kwargs)


def __getattr__(name: str):
    # `ft.rewards` (built-in rewards, dry run) loads on first use, keeping `import jupyter_ft` cheap
    if name == "rewards":
        import importlib

        return importlib.import_module(".rewards", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython):
    """`%load_ext jupyter_ft`: the `%ft`, `%%ft_train` and `%%ft_chat` magics."""
    from .magics import load_ipython_extension as load

    load(ipython)


def _jupyter_server_extension_points():
    from .server import JupyterFTApp

    return [{"module": "jupyter_ft.server", "app": JupyterFTApp}]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyter_ft"}]


__all__ = ["DeploySpec", "EvalJob", "EvalSpec", "ExportError", "ExportResult", "Job", "JobFailed", "SpecError", "TrainSpec", "cancel",
           "datasets", "deploy", "dry_run_evaluator", "eval_jobs", "eval_results", "endpoint", "endpoints", "evaluate", "export", "get_job", "jobs",
           "lineage", "make_tiny_model", "model", "models", "playground", "preview", "reproduce", "submit", "train",
           "ui", "workspace"]
