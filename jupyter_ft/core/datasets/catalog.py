"""The dataset catalog: named, versioned, validated datasets that every face and every job share.

    <root>/datasets/<name>/<version>/train.arrow   rows TRL trains on (Arrow stream, memory-mapped on read)
                                    eval.arrow    held-out rows of the seeded split (may hold no rows)
                                    meta.json     the same metadata as the database row, for people

A version is content-addressed: its id is the start of a digest of the converted rows, the effective column
mapping and the split settings, so adding identical content again returns the same version. Versions are
immutable. An import reads its source once in bounded batches (constant memory), converts and checks every row,
writes to a temporary folder, and only then renames the folder into place and inserts the row in one transaction:
a failed import leaves the catalog as it was. Jobs name a version as `name@version`; `name` alone means the latest
version and is resolved to an exact one when the job is submitted.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from jupyter_ft.core.datasets import shapes as data_shapes
from jupyter_ft.core.datasets.checks import Report, check_table
from jupyter_ft.core.datasets.convert import Converter
from jupyter_ft.core.datasets.sources import Batch, FastPathFailed, Source, looks_like_file, open_source
from jupyter_ft.core.datasets.errors import DatasetImportError, DatasetNotFound, DatasetValidationError
from jupyter_ft.core.registry.names import parse_ref
from jupyter_ft.core.workspace import Workspace

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
VERSION_LEN = 12
DEFAULT_MAX_CHARS = 200_000   # characters of text per row; longer rows are reported (token limits: see token stats)
STALE_TMP_S = 6 * 3600
SPLITS = ("train", "eval")

ProgressFn = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of a dataset. `ref` (`name@version`) is what a job spec names."""

    name: str
    version: str
    kind: str
    format: str
    num_rows: int
    created_at: float
    meta: dict[str, Any]
    path: Path

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def source(self) -> dict[str, Any]:
        return self.meta["source"]

    @property
    def card(self) -> str | None:
        """How the data was made, when its source says (the shipped demos do)."""
        return self.source.get("card")

    @property
    def conversion(self) -> list[str]:
        return self.meta["conversion"]

    @property
    def mapping(self) -> dict[str, str]:
        return self.meta["mapping"]

    @property
    def columns(self) -> dict[str, str]:
        return self.meta["columns"]

    @property
    def split(self) -> dict[str, Any]:
        return self.meta["split"]

    @property
    def num_train(self) -> int:
        return self.meta["split"]["num_train"]

    @property
    def num_eval(self) -> int:
        return self.meta["split"]["num_eval"]

    @property
    def dropped(self) -> int:
        return self.meta["dropped"]

    @property
    def problems(self) -> dict[str, Any]:
        return self.meta["problems"]

    @property
    def conversational(self) -> bool:
        return self.meta["conversational"]

    def file(self, split: str = "train") -> Path:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return self.path / f"{split}.arrow"

    def dataset(self, split: str = "train"):
        """The split as a `datasets.Dataset`, memory-mapped from the stored file (no copy in memory).

        `datasets` writes the caches of `.map()` beside a dataset's file; the file is opened through a hard link
        in `datasets/.cache/<name>/<version>/` so those caches (shared by jobs on the same version) never land in
        the immutable version folder."""
        import datasets

        src = self.file(split)
        work = self.path.parent.parent / ".cache" / self.name / self.version
        work.mkdir(parents=True, exist_ok=True)
        link = work / src.name
        if not link.exists():
            tmp = work / f".{src.name}.{os.getpid()}"
            try:
                os.link(src, tmp)
            except OSError:  # another filesystem: a symbolic link does as well
                tmp.unlink(missing_ok=True)
                os.symlink(src, tmp)
            os.replace(tmp, link)
        return datasets.Dataset.from_file(str(link))

    def rows(self, offset: int = 0, limit: int = 20, split: str = "train") -> list[dict[str, Any]]:
        """Rows `offset`..`offset + limit` of a split, read from the memory-mapped file (only those rows load)."""
        return _page_table(self.file(split), offset, limit)

    def split_rows(self, split: str) -> int:
        return self.num_train if split == "train" else self.num_eval

    def to_dict(self) -> dict[str, Any]:
        m = self.meta
        return {"name": self.name, "version": self.version, "ref": self.ref, "kind": self.kind, "format": self.format,
                "conversational": m["conversational"], "num_rows": self.num_rows, "num_train": self.num_train,
                "num_eval": self.num_eval, "dropped": m["dropped"], "source_rows": m["source_rows"],
                "created_at": self.created_at, "source": m["source"], "technique": m.get("technique"),
                "mapping": m["mapping"], "explicit_mapping": m.get("explicit_mapping", {}), "conversion": m["conversion"],
                "columns": m["columns"], "split": m["split"], "problems": m["problems"], "max_chars": m["max_chars"],
                "digest": m["digest"], "path": str(self.path)}

    def __repr__(self) -> str:
        drop = f", {self.dropped} dropped" if self.dropped else ""
        return (f"<DatasetVersion {self.ref} {self.kind}/{self.format}: {self.num_rows} rows "
                f"({self.num_train} train, {self.num_eval} eval{drop})>")


# --- reading the catalog ---------------------------------------------------------------------------------------

def datasets_dir(ws: Workspace) -> Path:
    return ws.root / "datasets"


def _from_row(ws: Workspace, row) -> DatasetVersion:
    return DatasetVersion(name=row["name"], version=row["version"], kind=row["kind"], format=row["format"],
                          num_rows=row["num_rows"], created_at=row["created_at"], meta=json.loads(row["meta"]),
                          path=datasets_dir(ws) / row["name"] / row["version"])


def names(ws: Workspace) -> list[str]:
    return [r[0] for r in ws.conn.execute("SELECT DISTINCT name FROM dataset_versions ORDER BY name")]


def has_name(ws: Workspace, name: str) -> bool:
    return ws.conn.execute("SELECT 1 FROM dataset_versions WHERE name = ? LIMIT 1", (name,)).fetchone() is not None


def versions(ws: Workspace, name: str) -> list[DatasetVersion]:
    """Every version of `name`, newest first."""
    rows = ws.conn.execute("SELECT * FROM dataset_versions WHERE name = ? ORDER BY created_at DESC, rowid DESC",
                           (name,)).fetchall()
    if not rows:
        raise DatasetNotFound(_no_name(ws, name))
    return [_from_row(ws, r) for r in rows]


def list_datasets(ws: Workspace) -> list[DatasetVersion]:
    """The latest version of every dataset, by name."""
    rows = ws.conn.execute(
        "SELECT d.* FROM dataset_versions d WHERE d.rowid = (SELECT e.rowid FROM dataset_versions e WHERE e.name = d.name"
        " ORDER BY e.created_at DESC, e.rowid DESC LIMIT 1) ORDER BY d.name").fetchall()
    return [_from_row(ws, r) for r in rows]


def refs(ws: Workspace | None = None) -> list[str]:
    """`name@version` of every version, each dataset's newest first (for choosers such as the job form)."""
    ws = ws or _default_workspace()
    rows = ws.conn.execute("SELECT name, version FROM dataset_versions ORDER BY name, created_at DESC, rowid DESC")
    return [f"{r['name']}@{r['version']}" for r in rows]


def _default_workspace() -> Workspace:
    from jupyter_ft.core.workspace import workspace

    return workspace()


def version_counts(ws: Workspace) -> dict[str, int]:
    return {r[0]: r[1] for r in ws.conn.execute("SELECT name, COUNT(*) FROM dataset_versions GROUP BY name")}


def _no_name(ws: Workspace, name: str) -> str:
    known = names(ws)
    return f"no dataset named {name!r} in the catalog" + (f" (it has: {', '.join(known)})" if known else " (it is empty)")


def get(ws: Workspace, ref: str | DatasetVersion) -> DatasetVersion:
    """`name@version` (a unique prefix of the version is enough), `name@latest` or `name` (the latest version)."""
    if isinstance(ref, DatasetVersion):
        return ref
    name, version = parse_ref(ref)
    if version in (None, "latest"):
        return versions(ws, name)[0]
    # a prefix match; LIKE's wildcards in what the user typed are literal characters (`name@%` is no version)
    prefix = re.sub(r"([\\%_])", r"\\\1", version.lower())
    rows = ws.conn.execute("SELECT * FROM dataset_versions WHERE name = ? AND version LIKE ? ESCAPE '\\' "
                           "ORDER BY created_at DESC", (name, prefix + "%")).fetchall()
    if len(rows) == 1:
        return _from_row(ws, rows[0])
    if not has_name(ws, name):
        raise DatasetNotFound(_no_name(ws, name))
    known = [v.version for v in versions(ws, name)]
    if rows:
        raise DatasetNotFound(f"version {version!r} of dataset {name!r} is ambiguous: {[r['version'] for r in rows]}")
    raise DatasetNotFound(f"dataset {name!r} has no version {version!r}; its versions are {known} (newest first)")


def lookup(ws: Workspace, ref: str) -> DatasetVersion | None:
    """The version `ref` names if it is a catalog reference, else None (a file path or hub id)."""
    ref = str(ref)
    if Path(ref).expanduser().exists() or looks_like_file(ref):
        return None
    name, version = parse_ref(ref)
    if not NAME_RE.fullmatch(name) or not has_name(ws, name):
        return None
    return get(ws, ref)


_OPEN: OrderedDict[str, Any] = OrderedDict()


def _page_table(path: Path, offset: int, limit: int) -> list[dict[str, Any]]:
    import pyarrow as pa

    key = str(path)
    table = _OPEN.get(key)
    if table is None:
        with pa.memory_map(key) as source:
            table = pa.ipc.open_stream(source).read_all()  # zero-copy: buffers point into the mapped file
        _OPEN[key] = table
        while len(_OPEN) > 8:
            _OPEN.popitem(last=False)
    _OPEN.move_to_end(key)
    offset = max(0, int(offset))
    return table.slice(offset, max(0, int(limit))).to_pylist()


# --- adding a version ------------------------------------------------------------------------------------------

def add(ws: Workspace, source: Any, name: str | None = None, technique: str | None = None, *,
        mapping: dict[str, str] | None = None, drop_invalid: bool = False, eval_fraction: float = 0.1, seed: int = 42,
        max_chars: int | None = DEFAULT_MAX_CHARS, config: str | None = None, split: str | None = None,
        revision: str | None = None, progress: ProgressFn | None = None, label: str | None = None,
        source_info: dict[str, Any] | None = None) -> DatasetVersion:
    """Import `source` as a version of dataset `name` (see `add_version`)."""
    return add_version(ws, source, name, technique, mapping=mapping, drop_invalid=drop_invalid,
                       eval_fraction=eval_fraction, seed=seed, max_chars=max_chars, config=config, split=split,
                       revision=revision, progress=progress, label=label, source_info=source_info)[0]


def add_version(ws: Workspace, source: Any, name: str | None = None, technique: str | None = None, *,
                mapping: dict[str, str] | None = None, drop_invalid: bool = False, eval_fraction: float = 0.1,
                seed: int = 42, max_chars: int | None = DEFAULT_MAX_CHARS, config: str | None = None,
                split: str | None = None, revision: str | None = None, progress: ProgressFn | None = None,
                label: str | None = None, source_info: dict[str, Any] | None = None) -> tuple[DatasetVersion, bool]:
    """Import, detect, convert, check every row, hash, split and register; returns (version, created).

    `technique` (or a data kind: sft, preference, prompt) picks the formats to look for; without it the kind is
    detected too. `mapping` ({field: column}) overrides detection. Invalid rows raise `DatasetValidationError`
    (counts per reason, first rows with row numbers) unless `drop_invalid`, which leaves them out and records how
    many. Identical content (same converted rows, mapping and split settings) returns the existing version.
    """
    if isinstance(eval_fraction, bool) or not isinstance(eval_fraction, (int, float)) or not 0 <= eval_fraction < 1:
        raise DatasetImportError(f"eval_fraction must be in [0, 1), got {eval_fraction!r}", field="eval_fraction")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**32 - 1:
        raise DatasetImportError(f"seed must be an integer in [0, 2**32-1], got {seed!r}", field="seed")
    if max_chars is not None and (isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars <= 0):
        raise DatasetImportError(f"max_chars must be a positive integer or None, got {max_chars!r}", field="max_chars")
    if mapping is not None and not isinstance(mapping, dict):
        raise DatasetImportError(f"mapping must be a dict {{field: column}}, got {type(mapping).__name__}", field="mapping")
    if name is not None and not NAME_RE.fullmatch(str(name)):
        raise DatasetImportError(f"name {name!r} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                                 "or digit", field="name")
    src = open_source(source, config=config, split=split, revision=revision, label=label)
    name = name or src.default_name
    root = datasets_dir(ws)
    root.mkdir(exist_ok=True)
    _clean_stale(root)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        opts = _Options(technique, mapping, drop_invalid, max_chars, float(eval_fraction), seed)
        plan, conv_notes, report, digest, schema = _read(src, opts, tmp / "all.arrow", progress)
        version = digest[:VERSION_LEN]
        existing = _exact(ws, name, version)
        if existing:
            return existing, False
        n = report.rows - report.invalid
        n_train, n_eval = _split(tmp, n, eval_fraction, seed, progress)
        meta = {
            "source": {**src.info, **(source_info or {})},
            "technique": technique,
            "kind": plan.kind,
            "format": plan.format,
            "source_format": plan.source_format,
            "conversational": plan.conversational,
            "explicit_mapping": dict(mapping or {}),
            "mapping": plan.mapping,
            "conversion": plan.notes + conv_notes,
            "columns": {f.name: str(f.type) for f in schema},
            "num_rows": n,
            "source_rows": report.rows,
            "dropped": report.invalid,
            "problems": report.to_dict(),
            "split": {"eval_fraction": float(eval_fraction), "seed": seed, "num_train": n_train, "num_eval": n_eval,
                      "method": "seeded permutation (numpy default_rng(seed)); eval = ceil(rows x eval_fraction)"},
            "max_chars": max_chars,
            "digest": digest,
        }
        created = time.time()
        (tmp / "meta.json").write_text(json.dumps({"name": name, "version": version, "created_at": created, **meta},
                                                  indent=1, default=str))
        for f in tmp.iterdir():  # versions are immutable: their files are read-only
            f.chmod(0o444)
        return _commit(ws, tmp, name, version, plan, n, created, meta)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _exact(ws: Workspace, name: str, version: str) -> DatasetVersion | None:
    row = ws.conn.execute("SELECT * FROM dataset_versions WHERE name = ? AND version = ?", (name, version)).fetchone()
    return _from_row(ws, row) if row else None


def _commit(ws: Workspace, tmp: Path, name: str, version: str, plan, n: int, created: float,
            meta: dict[str, Any]) -> tuple[DatasetVersion, bool]:
    final = datasets_dir(ws) / name / version
    with ws.write() as c:
        row = c.execute("SELECT * FROM dataset_versions WHERE name = ? AND version = ?", (name, version)).fetchone()
        if row:  # the same content was added meanwhile by another process
            return _from_row(ws, row), False
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():  # left by a process that died between rename and commit: never registered
            shutil.rmtree(final)
        os.rename(tmp, final)
        try:
            c.execute("INSERT INTO dataset_versions (name, version, kind, format, num_rows, created_at, meta)"
                      " VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (name, version, plan.kind, plan.format, n, created, json.dumps(meta, default=str)))
        except BaseException:
            os.rename(final, tmp)
            raise
    return _exact(ws, name, version), True


def _clean_stale(root: Path) -> None:
    """Temporary folders of imports that died (older than a few hours; running imports are younger)."""
    now = time.time()
    for p in root.glob(".tmp-*"):
        try:
            if now - p.stat().st_mtime > STALE_TMP_S:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def _column_shapes(batch: Batch, label: str) -> dict[str, str]:
    import pyarrow as pa

    if batch.table is not None:
        shapes = {}
        for name in batch.table.column_names:
            col = batch.table.column(name)
            sample = None
            if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                sample = [v for v in col.slice(0, 50).to_pylist() if v][:5]
            shapes[name] = data_shapes.shape_of_arrow(col.type, sample)
        return shapes
    dicts = [r for r in batch.rows or [] if isinstance(r, dict)]
    if not dicts:
        first = (batch.rows or [None])[0]
        raise DatasetImportError(f"{label}: none of the first {batch.num_rows} rows can be read; row {batch.first_row}: "
                                 f"{getattr(first, 'message', first)}", field="source", row=batch.first_row)
    keys: dict[str, None] = {}
    for d in dicts:
        keys.update(dict.fromkeys(d))
    return {k: data_shapes.shape_of_values([d.get(k) for d in dicts]) for k in keys}


@dataclass(frozen=True)
class _Options:
    technique: str | None
    mapping: dict[str, str] | None
    drop_invalid: bool
    max_chars: int | None
    eval_fraction: float
    seed: int


def _read(src: Source, opts: _Options, out: Path, progress: ProgressFn | None):
    """Read the source (fast path first, then row by row if a reader gives up) into `out`; see `_read_pass`."""
    try:
        return _read_pass(src, True, opts, out, progress, None)
    except FastPathFailed as exc:
        if not src.slow_path:
            raise DatasetImportError(f"{src.label}: cannot read: {exc}", field="source") from None
        note = f"read row by row (the vectorised reader stopped: {str(exc)[:200]})"
        return _read_pass(src, False, opts, out, progress, note)


def _read_pass(src: Source, fast: bool, opts: _Options, out: Path, progress: ProgressFn | None, note: str | None):
    """One pass: plan from the first batch, convert and check every batch, write kept rows to `out`, hash them.

    Returns (plan, conversion notes, report, digest, schema)."""
    import pyarrow as pa

    from jupyter_ft.core.datasets.content_hash import ContentHash

    plan = conv = writer = hasher = schema = None
    report = Report()
    last = 0.0
    try:
        for batch in src.batches(fast):
            if batch.num_rows == 0:
                continue
            if plan is None:
                plan = data_shapes.make_plan(opts.technique, _column_shapes(batch, src.label), opts.mapping, src.label)
                conv = Converter(plan)
            table, problems = conv.convert(batch)
            problems += check_table(table, plan, opts.max_chars)
            bad = report.add(batch.first_row, batch.num_rows, problems, batch.lines)
            if report.invalid and not opts.drop_invalid:
                continue  # nothing will be registered; keep reading to count every problem
            if bad.any():
                table = table.filter(pa.array(~bad))
            if writer is None:
                schema = conv.schema()
                writer = pa.ipc.new_stream(str(out), schema)
                hasher = ContentHash(schema.names)
            if table.schema != schema:
                table = table.cast(schema)
            writer.write_table(table, max_chunksize=16_384)
            hasher.update(table)
            if progress and time.time() - last > 0.5:
                last = time.time()
                progress({"phase": "read", "rows": report.rows, "bytes": src.bytes_read, "total_bytes": src.total_bytes})
    finally:
        if writer is not None:
            writer.close()
    if plan is None:
        raise DatasetImportError(f"{src.label} has no rows", field="source")
    what = f"{plan.kind} data ({plan.format})"
    if report.invalid and not opts.drop_invalid:
        raise DatasetValidationError(report.message(src.label, what), report.to_dict())
    if hasher is None or hasher.rows == 0:
        raise DatasetImportError(f"{src.label}: all {report.rows} rows are invalid for {what}; nothing to add. "
                                 + "; ".join(f"row {e['row']}: {e['message']}" for e in report.examples[:3]),
                                 field=report.examples[0]["field"] if report.examples else None,
                                 errors=report.examples)
    if progress:
        progress({"phase": "read", "rows": report.rows, "bytes": src.total_bytes, "total_bytes": src.total_bytes})
    notes = list(conv.notes) + src.notes + ([note] if note else [])
    if report.invalid:
        notes.append(f"dropped {report.invalid} invalid rows of {report.rows} (drop_invalid=True)")
    return plan, notes, report, hasher.hexdigest(
        {"kind": plan.kind, "format": plan.format, "mapping": plan.mapping, "eval_fraction": opts.eval_fraction,
         "seed": opts.seed}), schema


def _split(tmp: Path, n: int, eval_fraction: float, seed: int, progress) -> tuple[int, int]:
    """Write train.arrow / eval.arrow from all.arrow, batch by batch (the file is never loaded whole)."""
    import numpy as np
    import pyarrow as pa

    n_eval = 0 if eval_fraction <= 0 or n < 2 else min(n - 1, max(1, math.ceil(n * eval_fraction)))
    is_eval = np.zeros(n, bool)
    if n_eval:
        is_eval[np.random.default_rng(seed).permutation(n)[:n_eval]] = True
    src_path = tmp / "all.arrow"
    reader = pa.ipc.open_stream(pa.OSFile(str(src_path)))
    schema = reader.schema
    pos = 0
    with pa.ipc.new_stream(str(tmp / "train.arrow"), schema) as tw, pa.ipc.new_stream(str(tmp / "eval.arrow"), schema) as ew:
        for rb in reader:
            m = is_eval[pos:pos + rb.num_rows]
            pos += rb.num_rows
            if m.any():
                ew.write_batch(rb.filter(pa.array(m)))
            if not m.all():
                tw.write_batch(rb.filter(pa.array(~m)))
    src_path.unlink()
    if progress:
        progress({"phase": "split", "rows": n, "train": n - n_eval, "eval": n_eval})
    return n - n_eval, n_eval
