"""Where rows come from: local files (JSONL, JSON, CSV, Parquet), in-kernel objects, and the Hugging Face hub.

Every source yields bounded batches, so a file of any size is read in constant memory. Files are read through
pyarrow's vectorised readers (the fast path). Where pyarrow rejects data (a row of another type, undecodable
bytes, a broken line), rows are read one by one instead (the slow path), turning each unreadable row into a
row-level problem with its row and line number rather than failing the whole file: JSON Lines does this for the
rejected chunk only; CSV (whose quoted fields may span lines) and in-memory tables start again row by row.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from jupyter_ft.core.datasets.errors import DatasetImportError

BLOCK_BYTES = 1 << 20     # fast path (CSV): bytes per parsed block; the reader keeps a few dozen in flight
JSON_CHUNK_BYTES = 4 << 20  # fast path (JSON Lines): bytes of whole lines parsed at a time
BATCH_ROWS = 10_000       # slow path and in-memory sources: rows per batch
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
            ".parquet": "parquet", ".pq": "parquet"}


class FastPathFailed(Exception):
    """The vectorised reader gave up on this source; read it again row by row."""


@dataclass
class RowError:
    """A row that could not be read at all (bad JSON, bad bytes, wrong number of CSV fields)."""

    message: str
    field: str | None = None


@dataclass
class Batch:
    first_row: int                          # 1-based number of the batch's first row in the source
    table: Any = None                       # pyarrow.Table (fast path)
    rows: list[Any] | None = None           # dicts or RowError (slow path)
    lines: list[int] | None = None          # source line of each slow-path row, when it differs from the row number

    @property
    def num_rows(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.rows or ())


class _Counting(io.RawIOBase):
    """A read-only file that counts the bytes read, for progress."""

    def __init__(self, path: Path):
        self._f = open(path, "rb")
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._f.readinto(b)
        self.count += n or 0
        return n

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.count += len(data)
        return data

    def close(self) -> None:
        self._f.close()
        super().close()


class Source:
    """A dataset source. `label` names it in messages; `info` is recorded with the version."""

    label: str = "dataset"
    default_name: str = "dataset"
    total_bytes: int | None = None
    slow_path: bool = False  # whether `batches(fast=False)` can read what the fast path rejects

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self.notes: list[str] = []  # how the source was read, when that matters (added to the conversion record)
        self._counter: _Counting | None = None
        self._bytes = 0

    @property
    def bytes_read(self) -> int | None:
        if self._counter is not None:
            return self._counter.count
        return self._bytes if self.total_bytes else None

    def batches(self, fast: bool = True) -> Iterator[Batch]:
        raise NotImplementedError


def safe_name(text: str) -> str:
    """A catalog name made from a file name or hub id."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "dataset"
    return name[:64]


# --- files ------------------------------------------------------------------------------------------------

class FileSource(Source):
    def __init__(self, path: Path, kind: str, label: str | None = None):
        super().__init__()
        self.path = path
        self.kind = kind
        self.label = label or str(path)
        self.default_name = safe_name(path.stem)
        self.total_bytes = path.stat().st_size
        self.slow_path = kind in ("csv", "tsv")  # JSON Lines falls back chunk by chunk, inside the fast path
        self.info = {"type": "file", "path": str(path), "format": kind, "bytes": self.total_bytes,
                     "mtime": path.stat().st_mtime}

    def batches(self, fast: bool = True) -> Iterator[Batch]:
        if self.kind == "json":
            yield from self._json(fast)
        elif self.kind == "jsonl":
            yield from self._jsonl_fast()
        elif self.kind in ("csv", "tsv"):
            yield from (self._csv_fast() if fast else self._csv_slow())
        else:
            yield from self._parquet()

    # JSON Lines
    def _jsonl_fast(self) -> Iterator[Batch]:
        """Parse whole-line chunks of the file one at a time. (pyarrow's own streaming JSON reader reads far ahead,
        holding most of a large file in memory; one bounded chunk at a time keeps memory flat.) Later chunks are
        parsed with the first chunk's column types. A chunk pyarrow rejects (a row of another type, bad bytes, a
        broken line) is read row by row, so only that chunk pays for it and each bad row is named."""
        import pyarrow as pa
        import pyarrow.json as pj

        self._counter = None
        self._bytes = 0
        schema = None
        row, line = 1, 1
        for chunk in _line_chunks(self.path, JSON_CHUNK_BYTES, self):
            try:
                opts = pj.ParseOptions(explicit_schema=schema) if schema is not None else None
                table = pj.read_json(pa.py_buffer(chunk), parse_options=opts)
                table.validate(full=True)  # pyarrow's JSON reader lets undecodable bytes into strings
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                if not self.notes:
                    self.notes.append(f"some rows read one by one (the vectorised reader stopped: {str(exc)[:160]})")
                rows, lines = _parse_lines(chunk, line)
                batch = Batch(row, rows=rows, lines=lines)
            else:
                if schema is None:
                    schema = pa.schema([f for f in table.schema if not pa.types.is_null(f.type)])
                batch = Batch(row, table=table)
            line += chunk.count(b"\n")
            if batch.num_rows:
                yield batch
                row += batch.num_rows

    # one JSON document: an array of objects (read whole, as `datasets` does), or JSON Lines named .json
    def _json(self, fast: bool) -> Iterator[Batch]:
        with open(self.path, "rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"{"):
            yield from self._jsonl_fast()
            return
        if not head.startswith(b"["):
            raise DatasetImportError(f"{self.label}: a .json file must hold JSON Lines (one object per line) or one "
                                     f"array of objects; it starts with {head[:20]!r}", field="source")
        try:
            data = json.loads(self.path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise DatasetImportError(f"{self.label}: not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset "
                                     f"{exc.start})", field="source") from None
        except ValueError as exc:
            raise DatasetImportError(f"{self.label}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                                     field="source", row=None) from None
        self._bytes = self.total_bytes or 0
        for start in range(0, len(data), BATCH_ROWS):
            chunk = data[start:start + BATCH_ROWS]
            yield Batch(start + 1, rows=[r if isinstance(r, dict) else RowError(
                f"must be a JSON object, got {type(r).__name__}") for r in chunk])

    # CSV / TSV: every value is read as text; quoted fields may hold newlines and doubled quotes
    def _header(self) -> list[str]:
        delim = "\t" if self.kind == "tsv" else ","
        with open(self.path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
            try:
                names = next(csv.reader(fh, delimiter=delim))
            except StopIteration:
                raise DatasetImportError(f"{self.label} has no rows", field="source") from None
            except csv.Error as exc:
                raise DatasetImportError(f"{self.label}: cannot read the CSV header: {exc}", field="source", row=None) from None
        for i, n in enumerate(names):
            if _has_surrogates(n):
                raise DatasetImportError(f"{self.label}: the header is not valid UTF-8 (column {i + 1})", field="source")
            if not n.strip():
                raise DatasetImportError(f"{self.label}: column {i + 1} of the header has no name", field="source")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DatasetImportError(f"{self.label}: the header names {dup} more than once", field="source")
        return names

    def _csv_fast(self) -> Iterator[Batch]:
        import pyarrow as pa
        import pyarrow.csv as pcsv

        names = self._header()
        self._counter = _Counting(self.path)
        try:
            reader = pcsv.open_csv(
                self._counter,
                read_options=pcsv.ReadOptions(block_size=BLOCK_BYTES, use_threads=True),
                parse_options=pcsv.ParseOptions(delimiter="\t" if self.kind == "tsv" else ",", newlines_in_values=True),
                convert_options=pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                    strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
            row = 1
            for rb in reader:
                yield Batch(row, table=pa.Table.from_batches([rb]))
                row += rb.num_rows
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise FastPathFailed(str(exc)) from None
        finally:
            self._counter.close()

    def _csv_slow(self) -> Iterator[Batch]:
        names = self._header()
        self._counter = None
        csv.field_size_limit(min(sys.maxsize, (1 << 31) - 1))
        rows: list[Any] = []
        lines: list[int] = []
        n = 0
        with open(self.path, encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
            # strict: a quote that never closes is an error at the end of the file, not one field swallowing the rest
            reader = csv.reader(fh, delimiter="\t" if self.kind == "tsv" else ",", strict=True)
            next(reader)
            while True:
                start = reader.line_num + 1
                try:
                    rec = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    if "end of data" in str(exc):
                        raise DatasetImportError(
                            f"{self.label}: row {n + 1} (line {start}): a quoted field opened there is never closed "
                            f"(the file ends at line {reader.line_num} inside the quotes)", field="source",
                            row=n + 1) from None
                    raise DatasetImportError(f"{self.label}: row {n + 1} (line {reader.line_num}): {exc}",
                                             field="source", row=n + 1) from None
                if not rec:
                    continue  # blank line
                n += 1
                self._bytes = fh.buffer.tell() if hasattr(fh, "buffer") else 0
                if len(rec) != len(names):
                    spans = reader.line_num > start and any('"' in v for v in rec)
                    rows.append(RowError(f"has {len(rec)} fields; the header has {len(names)}" + (
                        f" (a quoted field runs from line {start} to line {reader.line_num}: is a closing quote "
                        "missing?)" if spans else "")))
                else:
                    bad = next((c for c, v in zip(names, rec) if _has_surrogates(v)), None)
                    if bad is not None:
                        v = rec[names.index(bad)]
                        byte = next(ord(ch) - 0xDC00 for ch in v if 0xDC80 <= ord(ch) <= 0xDCFF)
                        rows.append(RowError(f"column {bad!r} is not valid UTF-8 (byte 0x{byte:02x})", field=bad))
                    else:
                        rows.append(dict(zip(names, rec)))
                lines.append(reader.line_num)
                if len(rows) >= BATCH_ROWS:
                    yield Batch(n - len(rows) + 1, rows=rows, lines=lines)
                    rows, lines = [], []
        if rows:
            yield Batch(n - len(rows) + 1, rows=rows, lines=lines)

    def _parquet(self) -> Iterator[Batch]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DatasetImportError(f"{self.label}: not a readable Parquet file: {exc}", field="source") from None
        row = 1
        try:
            for rb in pf.iter_batches(batch_size=16_384):
                self._bytes = min(self.total_bytes or 0, int((self.total_bytes or 0) * row / max(pf.metadata.num_rows, 1)))
                yield Batch(row, table=pa.Table.from_batches([rb]))
                row += rb.num_rows
        except (pa.ArrowInvalid, OSError) as exc:
            raise DatasetImportError(f"{self.label}: cannot read rows from row {row} on: {exc}", field="source",
                                     row=row) from None


def _line_chunks(path: Path, size: int, src: Source) -> Iterator[bytes]:
    """The file in pieces of about `size` bytes that end at a newline (a longer line is one piece)."""
    rest = b""
    with open(path, "rb") as fh:
        while True:
            data = fh.read(size)
            src._bytes += len(data)
            if not data:
                if rest.strip():
                    yield rest
                return
            data = rest + data if rest else data
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            yield data[:cut + 1]
            rest = data[cut + 1:]


def _parse_lines(chunk: bytes, first_line: int) -> tuple[list[Any], list[int]]:
    """Rows of a chunk of JSON Lines parsed one by one (blank lines skipped, as pyarrow does)."""
    rows: list[Any] = []
    lines: list[int] = []
    for i, raw in enumerate(chunk.split(b"\n")):
        s = raw.strip()
        if s:
            rows.append(_parse_json_line(s))
            lines.append(first_line + i)
    return rows, lines


def _parse_json_line(s: bytes) -> Any:
    try:
        text = s.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte 0x{s[exc.start]:02x} at position {exc.start + 1}"
        try:  # name the column that holds the bad bytes
            value = json.loads(s.decode("utf-8", "surrogateescape"))
            col = next((k for k, v in value.items() if _has_surrogates(json.dumps(v, ensure_ascii=False))), None)
            if col is not None:
                return RowError(f"column {col!r} is not valid UTF-8 ({where})", field=col)
        except (ValueError, AttributeError):
            pass
        return RowError(f"not valid UTF-8 ({where})")
    try:
        value = json.loads(text)
    except ValueError as exc:
        return RowError(f"not valid JSON: {exc.msg} (column {exc.colno})")
    return value if isinstance(value, dict) else RowError(f"must be a JSON object, got {type(value).__name__}")


def _has_surrogates(s: str) -> bool:
    return any(0xDC80 <= ord(ch) <= 0xDCFF for ch in s) if not s.isascii() else False


# --- objects in the kernel ----------------------------------------------------------------------------------

class TableSource(Source):
    """An in-memory Arrow table (from a DataFrame or a list of rows), with the rows as the slow path."""

    def __init__(self, make_table, make_rows, label: str, info: dict[str, Any], num_rows: int):
        super().__init__()
        self._make_table, self._make_rows = make_table, make_rows
        self.label, self.info, self.default_name = label, info, "dataset"
        self.slow_path = True
        self.num_rows = num_rows

    def batches(self, fast: bool = True) -> Iterator[Batch]:
        if fast:
            import pyarrow as pa

            try:
                table = self._make_table()
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
                raise FastPathFailed(str(exc)) from None
            table = table.replace_schema_metadata(None)
            for start in range(0, table.num_rows, BATCH_ROWS):
                yield Batch(start + 1, table=table.slice(start, BATCH_ROWS))
            return
        for start in range(0, self.num_rows, BATCH_ROWS):
            rows = self._make_rows(start, start + BATCH_ROWS)
            yield Batch(start + 1, rows=[r if isinstance(r, dict) else RowError(
                f"must be a mapping of columns, got {type(r).__name__}") for r in rows])


def _dataframe_source(df) -> TableSource:
    import pyarrow as pa

    def rows(a: int, b: int) -> list[dict]:
        return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                for r in df.iloc[a:b].to_dict("records")]

    cols = [str(c) for c in df.columns]
    if len(set(cols)) != len(cols):
        raise DatasetImportError(f"DataFrame: column names repeat: {cols}", field="source")
    return TableSource(lambda: pa.Table.from_pandas(df, preserve_index=False), rows, "DataFrame",
                       {"type": "DataFrame", "rows": len(df), "columns": cols}, len(df))


def _rows_source(rows: list) -> TableSource:
    import pyarrow as pa

    def table():
        if not all(isinstance(r, dict) for r in rows):  # pyarrow would read a non-mapping as an empty row
            raise TypeError("a row is not a mapping")
        return pa.Table.from_pylist(rows)

    return TableSource(table, lambda a, b: rows[a:b], "rows", {"type": "rows", "rows": len(rows)}, len(rows))


class HFDatasetSource(Source):
    """A `datasets.Dataset` (from the kernel, the hub, or a local folder), read in Arrow batches."""

    def __init__(self, ds, label: str, info: dict[str, Any], default_name: str = "dataset"):
        super().__init__()
        self.ds, self.label, self.info, self.default_name = ds, label, info, default_name

    def batches(self, fast: bool = True) -> Iterator[Batch]:
        row = 1
        for table in self.ds.with_format("arrow").iter(batch_size=BATCH_ROWS):
            yield Batch(row, table=table.replace_schema_metadata(None))
            row += table.num_rows


def _offline() -> bool:
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _one_split(ds, split: str | None, label: str):
    import datasets

    if isinstance(ds, (datasets.DatasetDict, dict)):
        if split is None and len(ds) == 1:
            return next(iter(ds.values()))
        if split is None:
            split = "train"
        if split not in ds:
            raise DatasetImportError(f"{label}: no split {split!r}; it has {sorted(ds)}", field="split")
        return ds[split]
    return ds


def _folder_source(path: Path, config: str | None, split: str | None) -> HFDatasetSource:
    import datasets

    datasets.disable_progress_bars()
    label = str(path)
    try:
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            ds = _one_split(datasets.load_from_disk(str(path)), split, label)
            how = "load_from_disk"
        else:
            ds = _one_split(datasets.load_dataset(str(path), name=config, split=split or "train"), split, label)
            how = "load_dataset"
    except DatasetImportError:
        raise
    except Exception as exc:
        raise DatasetImportError(f"{label}: cannot load this folder as a dataset ({type(exc).__name__}: {exc})",
                                 field="source") from None
    return HFDatasetSource(ds, label, {"type": "folder", "path": str(path), "loader": how, "config": config,
                                       "split": split or "train"}, safe_name(path.name))


def _hub_source(repo: str, config: str | None, split: str | None, revision: str | None) -> HFDatasetSource:
    import datasets

    datasets.disable_progress_bars()
    label = f"hub dataset {repo!r}"
    try:
        ds = datasets.load_dataset(repo, name=config, split=split or "train", revision=revision)
    except Exception as exc:
        msg = (f"cannot load {repo!r} from the Hugging Face hub (config={config!r}, split={split or 'train'!r}, "
               f"revision={revision!r}): {type(exc).__name__}: {exc}")
        if _offline() or isinstance(exc, ConnectionError) or "offline" in str(exc).lower() or "connect" in str(exc).lower():
            msg = (f"cannot load {repo!r} from the Hugging Face hub: this machine is offline"
                   f"{' (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set)' if _offline() else ''} and it is not in the local "
                   f"cache. Download it where a network exists, or add a local file or folder instead. ({type(exc).__name__})")
        raise DatasetImportError(msg, field="source") from None
    ds = _one_split(ds, split, label)
    resolved = None
    try:  # the commit the rows came from, so the version says exactly what was read
        for f in ds.cache_files:
            m = re.search(r"/([0-9a-f]{40})/", f["filename"])
            if m:
                resolved = m.group(1)
                break
    except Exception:
        pass
    info = {"type": "hub", "id": repo, "config": config, "split": split or "train", "revision": revision or "main",
            "resolved_revision": resolved}
    return HFDatasetSource(ds, label, info, safe_name(repo.split("/")[-1]))


def looks_like_file(ref: str) -> bool:
    """A local path rather than a hub id or catalog name (same rule as model paths, plus known suffixes)."""
    from jupyter_ft.core.hub import looks_like_path

    return looks_like_path(ref) or Path(ref).suffix.lower() in SUFFIXES


def open_source(source: Any, *, config: str | None = None, split: str | None = None, revision: str | None = None,
                label: str | None = None) -> Source:
    """A `Source` for a path, hub id, pandas DataFrame, `datasets.Dataset` or list of row dicts."""
    if isinstance(source, (str, Path)):
        ref = str(source)
        path = Path(ref).expanduser()
        if path.is_dir():
            return _folder_source(path.resolve(), config, split)
        if path.is_file():
            kind = SUFFIXES.get(path.suffix.lower())
            if kind is None:
                raise DatasetImportError(f"{path}: unknown file type {path.suffix!r}; expected one of "
                                         f"{', '.join(sorted(SUFFIXES))}", field="source")
            if path.stat().st_size == 0:
                raise DatasetImportError(f"{label or path}: the file is empty (0 bytes)", field="source")
            return FileSource(path.resolve(), kind, label)
        if isinstance(source, Path) or looks_like_file(ref):
            raise DatasetImportError(f"no such file: {path}", field="source")
        if not re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?", ref):
            raise DatasetImportError(f"{ref!r} is neither an existing file nor a hub id (org/name)", field="source")
        return _hub_source(ref, config, split, revision)
    mod = type(source).__module__
    if mod.startswith("pandas"):
        return _dataframe_source(source)
    if mod.startswith("datasets"):
        import datasets

        if isinstance(source, datasets.DatasetDict):
            source = _one_split(source, split, "DatasetDict")
        if not isinstance(source, datasets.Dataset):
            raise DatasetImportError(f"cannot import a {type(source).__name__}; pass a datasets.Dataset "
                                     "(e.g. load it without streaming=True)", field="source")
        return HFDatasetSource(source, "Dataset", {"type": "Dataset", "fingerprint": source._fingerprint,
                                                   "rows": source.num_rows})
    if isinstance(source, list):
        return _rows_source(source)
    raise DatasetImportError(f"cannot import a {type(source).__name__}: pass a file path, a hub id, a pandas "
                             "DataFrame, a datasets.Dataset or a list of row dicts", field="source")
