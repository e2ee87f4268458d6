"""Load a job's dataset through HF `datasets` and describe it for MLflow.

A catalog version (`name@version`, pinned at submission) is read from its stored, already validated and split
files, memory-mapped; a local file or hub id is loaded, validated and split here as before.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.datasets.errors import DatasetNotFound
from jupyter_ft.core.datasets.formats import DatasetFormatError, detect, validate_rows
from jupyter_ft.core.peek import hint
from jupyter_ft.core.sizing import looks_like_path
from jupyter_ft.core.specs import TrainSpec
from jupyter_ft.core.workspace import Workspace

from .errors import JobInputError

BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


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

    def mlflow_input(self, context: str = "train") -> dict[str, Any]:
        schema = {"columns": {k: str(v) for k, v in self.train.features.items()}}
        return {"name": self.name, "digest": self.digest, "source_type": self.source_type,
                "source": json.dumps(self.source), "schema": json.dumps(schema), "profile": json.dumps(self.profile),
                "context": context}


def _version(spec: TrainSpec, ws: Workspace | None) -> catalog.DatasetVersion | None:
    if ws is None:
        return None
    try:
        return catalog.lookup(ws, spec.dataset)
    except DatasetNotFound as exc:
        raise JobInputError(f"dataset: {exc}") from None


def preflight(spec: TrainSpec, ws: Workspace | None = None) -> None:
    """Checks that need no heavy imports, so a bad path fails in the job's first second."""
    version = _version(spec, ws)
    if version is not None:
        if not version.file("train").is_file():
            raise JobInputError(f"dataset: the files of {version.ref} are missing from {version.path}")
        return
    ds = spec.dataset
    if looks_like_path(ds) or Path(ds).suffix.lower() in BUILDERS:
        p = Path(ds).expanduser()
        if not p.exists():
            raise JobInputError(f"dataset: file {p} does not exist")
        if p.is_file() and p.suffix.lower() not in BUILDERS:
            raise JobInputError(f"dataset: {p} has suffix {p.suffix!r}; expected one of {', '.join(BUILDERS)}")
        if p.is_file() and p.stat().st_size == 0:
            raise JobInputError(f"dataset: file {p} is empty")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_version(version: catalog.DatasetVersion) -> LoadedData:
    """A catalog version's stored split, memory-mapped; its content digest is the MLflow dataset digest."""
    import datasets

    datasets.disable_progress_bars()
    train = version.dataset("train")
    evals = version.dataset("eval") if version.num_eval else None
    src = version.source
    source_type = {"hub": "hugging_face", "file": "local", "folder": "local"}.get(src.get("type"), "code")
    profile = {"num_rows": version.num_train, "num_eval_rows": version.num_eval, "format": version.format,
               "version": version.ref, "dropped_rows": version.dropped, "conversion": version.conversion}
    return LoadedData(train, evals, version.format, version.version, {"catalog": version.ref, **src}, source_type,
                      version.name, profile)


def load(spec: TrainSpec, ws: Workspace | None = None) -> LoadedData:
    import datasets

    version = _version(spec, ws)
    if version is not None:
        return load_version(version)
    datasets.disable_progress_bars()
    ds_ref = spec.dataset
    path = Path(ds_ref).expanduser()
    if path.is_file():
        builder = BUILDERS[path.suffix.lower()]
        try:
            ds = datasets.load_dataset(builder, data_files=str(path), split="train")
        except Exception as exc:  # datasets wraps parser errors; keep its message, name the file
            cause = exc.__cause__ or exc
            raise JobInputError(f"dataset: cannot read {path} as {builder}: {type(cause).__name__}: {cause}") from None
        digest = _file_digest(path)
        source, source_type, name = {"uri": str(path.resolve())}, "local", path.stem
    else:
        try:
            ds = datasets.load_dataset(ds_ref, split=spec.dataset_split)
        except Exception as exc:
            raise JobInputError(f"dataset: cannot load {ds_ref!r} (split {spec.dataset_split!r}): {type(exc).__name__}: {exc}") from None
        digest = ds._fingerprint[:16]
        source, source_type, name = {"path": ds_ref, "split": spec.dataset_split}, "hugging_face", ds_ref
    if len(ds) == 0:
        raise JobInputError(f"dataset: {ds_ref} has no rows")
    try:
        detect(spec.technique, ds.column_names)
    except DatasetFormatError as exc:  # the wrong kind of data: say which techniques it would fit
        raise JobInputError(f"dataset {ds_ref}: {exc}{hint(ds.column_names)}") from None
    try:
        fmt = validate_rows(spec.technique, ds.column_names, ds, f"dataset {ds_ref}")
    except DatasetFormatError as exc:
        raise JobInputError(str(exc)) from None
    eval_ds = None
    if spec.eval_fraction > 0:
        split = ds.train_test_split(test_size=spec.eval_fraction, seed=spec.seed)
        ds, eval_ds = split["train"], split["test"]
    profile = {"num_rows": len(ds), "num_eval_rows": len(eval_ds) if eval_ds is not None else 0, "format": fmt}
    return LoadedData(ds, eval_ds, fmt, digest, source, source_type, name, profile)
