"""The one door: whatever a face passes as a job's `dataset` becomes a pinned catalog version at submission.

Accepted: a catalog `name[@version]`, a local file or folder (relative paths are read from where the submitter
stands: `base_dir`), a hub id, a pandas DataFrame, a `datasets.Dataset` / `DatasetDict`, or a list of row dicts.
Everything is imported through `catalog.add` (content-addressed, checked, split with the job's `eval_fraction` and
`seed`), so a job only ever reads a stored version, and MLflow records the same kind of dataset input whichever
road the data took.

Everything is imported at submission, hub datasets and very large files included: the stored spec is then always
an exact `name@version`, a bad file or an unreachable hub is refused before anything is queued (naming
`dataset`), and no job has to know how to read a source. The submitter sees the import's progress; re-submitting
an unchanged file is answered from a cache keyed by the file's identity (absolute path, size, mtime; for a
folder, those of every file in it) and the import settings, without reading the file again.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from jupyter_ft.core.workspace import Workspace
from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.datasets.catalog import NAME_RE, DatasetVersion, parse_ref
from jupyter_ft.core.datasets.errors import DatasetImportError, DatasetNotFound
from jupyter_ft.core.datasets.formats import data_kind
from jupyter_ft.core.datasets.sources import looks_like_file, safe_name

ProgressFn = Callable[[dict[str, Any]], None]

_TABLE = """CREATE TABLE IF NOT EXISTS dataset_file_ids (
    identity TEXT PRIMARY KEY,     -- JSON: absolute path, size, mtime (per file of a folder), import settings
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at REAL NOT NULL)"""


def resolve_path(value: str, base_dir: str | Path | None) -> Path:
    """`value` as an absolute path, a relative one read from `base_dir` (default: this process's cwd)."""
    p = Path(value).expanduser()
    if not p.is_absolute():
        p = Path(base_dir or os.getcwd()).expanduser() / p
    return Path(os.path.normpath(p))


def local_path(ref: str, base_dir: str | Path | None) -> Path | None:
    """The local file or folder `ref` names, or None when it names a catalog dataset or a hub id.

    An existing path wins; then a catalog name; a string shaped like a path (./x, /x, a/b/c, a known suffix) is a
    path even when it does not exist (so the error says "no such file", not "no such hub dataset")."""
    p = resolve_path(ref, base_dir)
    if p.exists() or looks_like_file(ref):
        return p
    return None


def pin(ws: Workspace, dataset: Any, technique: str, *, base_dir: str | Path | None = None,
        eval_fraction: float = 0.1, seed: int = 42, split: str | None = None, mapping: dict[str, str] | None = None,
        progress: ProgressFn | None = None) -> tuple[DatasetVersion, bool]:
    """The catalog version `dataset` is (or becomes); `(version, imported)` where `imported` says it came in now.

    Raises `DatasetImportError` / `DatasetValidationError` (naming file, row and field) or `DatasetNotFound`."""
    if isinstance(dataset, DatasetVersion):
        return dataset, False
    if isinstance(dataset, Path):
        dataset = str(dataset)
    if isinstance(dataset, str):
        if not dataset.strip():
            raise DatasetImportError("dataset is empty: name a catalog dataset, a file or folder, or a hub id",
                                     field="dataset")
        path = local_path(dataset, base_dir)
        if path is not None:
            return _pin_path(ws, path, technique, eval_fraction, seed, split, mapping, progress)
        name, version = parse_ref(dataset)
        if NAME_RE.fullmatch(name) and catalog.has_name(ws, name):
            return catalog.get(ws, dataset), False
        if version is not None:
            raise DatasetNotFound(catalog._no_name(ws, name))
        return _pin_hub(ws, dataset, technique, eval_fraction, seed, split, mapping, progress)
    _check_object(dataset)
    v, created = catalog.add_version(ws, dataset, _object_name(dataset), technique, mapping=mapping,
                                     eval_fraction=eval_fraction, seed=seed, split=split, progress=progress)
    return v, created


def _object_name(obj: Any) -> str:
    mod = type(obj).__module__
    if mod.startswith("pandas"):
        return "dataframe"
    if isinstance(obj, list):
        return "rows"
    return "dataset"


def _check_object(obj: Any) -> None:
    """Empty in-kernel data is refused before the catalog sees it (it would only say 'no rows')."""
    mod = type(obj).__module__
    if isinstance(obj, list) and not obj:
        raise DatasetImportError("dataset is an empty list: give at least one row dict", field="dataset")
    if mod.startswith("pandas") and len(obj) == 0:
        raise DatasetImportError(f"dataset is an empty DataFrame (columns {[str(c) for c in obj.columns]}, 0 rows)",
                                 field="dataset")


# --- files and folders: imported once per identity ----------------------------------------------------------

def identity(path: Path) -> list[list[Any]]:
    """(relative name, size, mtime_ns) of the file, or of every file under the folder: what "unchanged" means."""
    if path.is_file():
        st = path.stat()
        return [[path.name, st.st_size, st.st_mtime_ns]]
    out = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            p = Path(root) / f
            st = p.stat()
            out.append([str(p.relative_to(path)), st.st_size, st.st_mtime_ns])
    return out


def _pin_path(ws: Workspace, path: Path, technique: str, eval_fraction: float, seed: int, split: str | None,
              mapping: dict[str, str] | None, progress: ProgressFn | None) -> tuple[DatasetVersion, bool]:
    if not path.exists():
        raise DatasetImportError(f"no such file or folder: {path}", field="dataset")
    if path.is_file() and not os.access(path, os.R_OK):
        raise DatasetImportError(f"{path}: cannot be read (permission denied)", field="dataset")
    name = safe_name(path.stem if path.is_file() else path.name)
    try:
        key = json.dumps({"path": str(path), "files": identity(path), "kind": data_kind(technique),
                          "mapping": mapping or {},
                          "eval_fraction": float(eval_fraction), "seed": seed, "split": split, "name": name})
    except OSError as exc:
        raise DatasetImportError(f"{path}: cannot be read ({exc.strerror or exc})", field="dataset") from None
    hit = _cached(ws, key)
    if hit is not None:
        return hit, False
    v, created = catalog.add_version(ws, path, name, technique, mapping=mapping, eval_fraction=eval_fraction, seed=seed,
                                     split=split, progress=progress)
    _remember(ws, key, v)
    return v, created


def _cached(ws: Workspace, key: str) -> DatasetVersion | None:
    _ensure_table(ws)
    row = ws.conn.execute("SELECT name, version FROM dataset_file_ids WHERE identity = ?", (key,)).fetchone()
    if row is None:
        return None
    v = catalog._exact(ws, row["name"], row["version"])
    if v is None or not v.file("train").is_file():  # the version or its files went away: import again
        return None
    return v


def _remember(ws: Workspace, key: str, v: DatasetVersion) -> None:
    with ws.write() as c:
        c.execute("INSERT OR REPLACE INTO dataset_file_ids (identity, name, version, created_at) VALUES (?, ?, ?, ?)",
                  (key, v.name, v.version, time.time()))


def _ensure_table(ws: Workspace) -> None:
    if getattr(ws, "_file_ids_ready", False):
        return
    with ws.write() as c:
        c.execute(_TABLE)
    ws._file_ids_ready = True


# --- the hub -------------------------------------------------------------------------------------------------

def _pin_hub(ws: Workspace, repo: str, technique: str, eval_fraction: float, seed: int, split: str | None,
             mapping: dict[str, str] | None, progress: ProgressFn | None) -> tuple[DatasetVersion, bool]:
    from jupyter_ft.core import hub

    if not hub.reachable():
        cached = _hub_cache_has(repo)
        if not cached:
            known = catalog.names(ws)
            also = f"; the catalog has: {', '.join(known)}" if known else ""
            raise DatasetImportError(
                f"{repo!r} is not a catalog dataset or a local file, and as a hub dataset it cannot be fetched: "
                f"{hub.offline_reason()} and it is not in the local cache{also}", field="dataset")
    return catalog.add_version(ws, repo, None, technique, mapping=mapping, eval_fraction=eval_fraction, seed=seed,
                               split=split, progress=progress)


def _hub_cache_has(repo: str) -> bool:
    """Whether `datasets` has this hub dataset cached locally (then it loads offline)."""
    try:
        from datasets import config

        cache = Path(config.HF_DATASETS_CACHE)
        hub_cache = Path(config.HF_CACHE_HOME) / "hub"
    except Exception:
        return False
    pattern = repo.replace("/", "___")
    return any(cache.glob(f"{pattern}*")) or (hub_cache / f"datasets--{repo.replace('/', '--')}").is_dir()


# --- progress for people ---------------------------------------------------------------------------------------

class StderrProgress:
    """One status line on stderr, only for imports that take more than a couple of seconds."""

    def __init__(self, label: str, stream=None):
        self.label, self.t0, self.shown = label, time.time(), False
        self.stream = stream or sys.stderr

    def __call__(self, p: dict[str, Any]) -> None:
        if time.time() - self.t0 < 2 and not self.shown:
            return
        if p["phase"] == "read":
            done = f"{p['rows']:,} rows"
            if p.get("bytes") is not None and p.get("total_bytes"):
                done += f", {p['bytes'] / 1e6:,.0f} / {p['total_bytes'] / 1e6:,.0f} MB ({p['bytes'] / p['total_bytes']:.0%})"
        else:
            done = f"split: {p['train']:,} train / {p['eval']:,} eval"
        self.stream.write(f"\r{self.label}: {done}   ")
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


# --- a job spec's dataset --------------------------------------------------------------------------------------

def pin_spec(ws: Workspace, spec, dataset: Any = None, *, base_dir: str | Path | None = None,
             explicit: set[str] | None = None, progress: ProgressFn | None = None):
    """`(spec with dataset = the exact name@version, the version)`. `dataset` is the object a face passed (a
    DataFrame, rows, ...) when it is not the spec's string. Raises `SpecError` naming `dataset` (or
    `eval_fraction`) for anything that cannot be read, checked or found."""
    from jupyter_ft.core.spec.train import SpecError

    explicit = explicit or set()
    source = spec.dataset if dataset is None else dataset
    is_ref = isinstance(source, str) and local_path(source, base_dir) is None
    name = parse_ref(source)[0] if is_ref else ""
    in_catalog = is_ref and bool(NAME_RE.fullmatch(name)) and catalog.has_name(ws, name)
    if spec.dataset_mapping and (in_catalog or isinstance(source, DatasetVersion)):
        raise SpecError([("dataset_mapping", f"{source if in_catalog else source.ref} is already a catalog version "
                                             "(its columns were mapped when it was added); dataset_mapping applies "
                                             "to a dataset imported at submission")])
    try:
        v, imported = pin(ws, source, spec.technique, base_dir=base_dir, eval_fraction=spec.eval_fraction or 0.0,
                          seed=spec.seed, split=spec.dataset_split if spec.dataset_split != "train" else None,
                          mapping=spec.dataset_mapping, progress=progress)
    except DatasetNotFound as exc:
        raise SpecError([("dataset", str(exc))]) from None
    except DatasetImportError as exc:
        where = f"row {exc.row}: " if exc.row and str(exc.row) not in str(exc) else ""
        raise SpecError([("dataset", where + str(exc))]) from None
    kind = data_kind(spec.technique)
    if v.kind != kind:
        raise SpecError([("dataset", f"{v.ref} holds {v.kind} data ({v.format}); technique {spec.technique!r} trains "
                                     f"on {kind} data")])
    auto = dict(spec.auto)
    given = source if isinstance(source, str) else type(source).__name__
    if given != v.ref:
        if isinstance(source, DatasetVersion):
            how = "given as a catalog version"
        elif in_catalog:
            how = "latest version at submission" if parse_ref(given)[1] in (None, "latest") else "unique prefix"
        else:
            how = "imported at submission" if imported else "unchanged since it was imported"
        auto["dataset"] = f"{given} -> {v.ref} ({how})"
    update: dict[str, Any] = {"dataset": v.ref}
    frac = v.split["eval_fraction"]
    if in_catalog and "eval_fraction" in explicit and spec.eval_fraction and abs(spec.eval_fraction - frac) > 1e-9:
        raise SpecError([("eval_fraction", f"{v.ref} has its own split ({v.num_eval} eval rows, eval_fraction "
                                           f"{frac:g}, seed {v.split['seed']}); add the dataset again with "
                                           f"eval_fraction={spec.eval_fraction:g} for another split, or set "
                                           "eval_fraction: 0 to train without evaluation")])
    if spec.eval_fraction == 0 and "eval_fraction" in explicit:
        auto["eval_fraction"] = "0: no evaluation (asked for)"
        update["eval_fraction"] = 0.0
    elif not v.num_eval:
        auto["eval_fraction"] = (f"0: {v.ref} has no eval rows" + (" (too few rows to hold some out)"
                                                                  if frac else " (added with eval_fraction 0)"))
        update["eval_fraction"] = 0.0
    else:
        auto["eval_fraction"] = (f"{frac:g}: the split of {v.ref} ({v.num_train} train, {v.num_eval} eval rows, "
                                 f"seed {v.split['seed']})")
        update["eval_fraction"] = frac
    update["dataset_mapping"] = None  # applied: the version holds the converted rows
    return spec.model_copy(update={**update, "auto": auto}), v
