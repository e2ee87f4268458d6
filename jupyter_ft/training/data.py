"""A job's dataset: the catalog version its spec pins, memory-mapped, and how it is described to MLflow.

Every dataset came through the catalog at submission (see `core.datasets.door`), so the job reads stored,
already validated and split files, never a raw source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.datasets.errors import DatasetNotFound
from jupyter_ft.core.spec.train import TrainSpec
from jupyter_ft.core.workspace import Workspace

from jupyter_ft.training.errors import JobInputError


@dataclass
class LoadedData:
    train: Any                    # datasets.Dataset
    eval: Any | None
    format: str
    digest: str
    source: dict[str, Any]
    source_type: str
    name: str
    profile: dict[str, Any] = field(default_factory=dict)
    eval_pool: Any | None = None  # the whole held-out split `eval` was taken from (its first rows), to refill it

    def mlflow_input(self, context: str = "train") -> dict[str, Any]:
        schema = {"columns": {k: str(v) for k, v in self.train.features.items()}}
        return {"name": self.name, "digest": self.digest, "source_type": self.source_type,
                "source": json.dumps(self.source), "schema": json.dumps(schema), "profile": json.dumps(self.profile),
                "context": context}


def _version(spec: TrainSpec, ws: Workspace) -> catalog.DatasetVersion:
    try:
        return catalog.get(ws, spec.dataset)
    except DatasetNotFound as exc:
        raise JobInputError(f"dataset: {exc} (a job reads the catalog version its spec pins at submission)") from None


def preflight(spec: TrainSpec, ws: Workspace) -> None:
    """Checks that need no heavy imports, so missing data fails in the job's first second."""
    version = _version(spec, ws)
    if not version.file("train").is_file():
        raise JobInputError(f"dataset: the files of {version.ref} are missing from {version.path}")


def load_version(version: catalog.DatasetVersion, spec: TrainSpec | None = None) -> LoadedData:
    """A catalog version's stored split, memory-mapped; its content digest is the MLflow dataset digest.

    With a spec: no eval split when `eval_fraction` is 0, and only the first `eval_rows` held-out rows (the split
    is already a seeded random sample) when evaluation was sized down; `eval_pool` keeps the whole split, so a
    technique that drops held-out rows (SFT: no trained token left after truncation) can take the next ones."""
    import datasets

    datasets.disable_progress_bars()
    train = version.dataset("train")
    use_eval = version.num_eval and (spec is None or spec.eval_fraction > 0)
    evals = pool = version.dataset("eval") if use_eval else None
    if evals is not None and spec is not None and spec.eval_rows and spec.eval_rows < len(evals):
        evals = evals.select(range(spec.eval_rows))
    src = version.source
    source_type = {"hub": "hugging_face", "file": "local", "folder": "local"}.get(src.get("type"), "code")
    profile = {"num_rows": version.num_train, "num_eval_rows": version.num_eval if use_eval else 0,
               "eval_rows_scored": len(evals) if evals is not None else 0, "format": version.format,
               "version": version.ref, "dropped_rows": version.dropped, "conversion": version.conversion}
    return LoadedData(train, evals, version.format, version.version, {"catalog": version.ref, **src}, source_type,
                      version.name, profile, pool)


def load(spec: TrainSpec, ws: Workspace) -> LoadedData:
    return load_version(_version(spec, ws), spec)
