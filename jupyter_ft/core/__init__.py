"""The core: pure Python, no torch and no Jupyter. Every face (SDK, REST, widgets, magics, CLI) and every job
process calls into it; it imports nothing above it.

    workspace.py  the workspace: its folder, its SQLite store, `workspace()` to open one
    spec/         the pydantic specs of every job kind (train, eval, deploy) and what fills or checks them
    datasets/     the one door for data: sources, shapes, conversion, checks, the versioned catalog
    jobs/         the job store, submission, the scheduler and its executors, progress, metrics, summaries
    train/        sizing and compute choices for a model on a device, technique declarations
    evaluate/     evaluation submission, what a row means to an evaluator, results views
    registry/     model versions, aliases and gating, lineage, reproduce, export
    deploy/       endpoints and their store, the playground, the vLLM plan
    tracking.py   MLflow runs;  procs.py  detached processes;  devices.py  devices;  hub.py  is the hub reachable
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("jupyter_ft")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
