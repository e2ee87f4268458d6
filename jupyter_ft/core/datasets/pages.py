"""Pages of rows from any dataset, reading only the page: what the preview widget (and any face) pages through.

A catalog version is memory-mapped and sliced; a `datasets.Dataset` is sliced (also memory-mapped); a DataFrame
or list is sliced in memory where it already lives; a local file is streamed batch by batch up to the page, so a
file of any size is previewed in constant memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_ft.core.datasets.catalog import DatasetVersion


class Pager:
    title: str = "dataset"
    kind: str | None = None           # sft | preference | prompt, when known
    format: str | None = None
    splits: tuple[str, ...] = ("train",)
    details: dict[str, Any] = {}

    def total(self, split: str = "train") -> int | None:
        """Rows in the split (None: not known without reading the whole source)."""
        raise NotImplementedError

    def rows(self, offset: int, limit: int, split: str = "train") -> list[dict[str, Any]]:
        raise NotImplementedError


class VersionPager(Pager):
    def __init__(self, version: DatasetVersion):
        self.v = version
        self.title, self.kind, self.format = version.ref, version.kind, version.format
        self.splits = ("train", "eval") if version.num_eval else ("train",)
        self.details = {"source": version.source, "conversion": version.conversion, "dropped": version.dropped,
                        "rows": version.num_rows}

    def total(self, split: str = "train") -> int:
        return self.v.split_rows(split)

    def rows(self, offset: int, limit: int, split: str = "train") -> list[dict[str, Any]]:
        return self.v.rows(offset, limit, split)


class SlicePager(Pager):
    """A `datasets.Dataset`, DataFrame or list of rows already in the kernel."""

    def __init__(self, obj: Any, title: str):
        self.obj, self.title = obj, title
        cols = _columns(obj)
        self.kind = "preference" if {"chosen", "rejected"} <= set(cols) else None

    def total(self, split: str = "train") -> int:
        return len(self.obj)

    def rows(self, offset: int, limit: int, split: str = "train") -> list[dict[str, Any]]:
        o = self.obj
        mod = type(o).__module__
        if mod.startswith("pandas"):
            return o.iloc[offset:offset + limit].to_dict("records")
        if mod.startswith("datasets"):
            stop = min(len(o), offset + limit)
            return [o[i] for i in range(offset, stop)]
        return list(o[offset:offset + limit])


class FilePager(Pager):
    """A local file, read batch by batch from the start up to the page."""

    def __init__(self, path: Path):
        from jupyter_ft.core.datasets.sources import open_source

        self.path = path
        self.source = open_source(path)
        self.title = str(path)
        self._total: int | None = None
        first = self._read(0, 1)
        self.kind = "preference" if first and {"chosen", "rejected"} <= set(first[0]) else None

    def total(self, split: str = "train") -> int | None:
        return self._total

    def _read(self, offset: int, limit: int) -> list[dict[str, Any]]:
        from jupyter_ft.core.datasets.sources import FastPathFailed, RowError

        def scan(fast: bool) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            seen = 0
            for batch in self.source.batches(fast):
                n = batch.num_rows
                if seen + n > offset:
                    lo = max(0, offset - seen)
                    if batch.table is not None:
                        got = batch.table.slice(lo, limit - len(out)).to_pylist()
                    else:
                        got = [r if isinstance(r, dict) else {"unreadable row": r.message}
                               for r in batch.rows[lo:lo + limit - len(out)]]
                        got = [g for g in got if not isinstance(g, RowError)]
                    out.extend(got)
                    if len(out) >= limit:
                        return out
                seen += n
            self._total = seen
            return out

        try:
            return scan(True)
        except FastPathFailed:
            return scan(False)

    def rows(self, offset: int, limit: int, split: str = "train") -> list[dict[str, Any]]:
        return self._read(offset, limit)


def _columns(obj: Any) -> list[str]:
    if hasattr(obj, "column_names"):
        return list(obj.column_names)
    if hasattr(obj, "columns"):
        return [str(c) for c in obj.columns]
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        return list(obj[0])
    return []


def pager_for(source: Any, ws=None) -> Pager:
    """A pager for a catalog version or reference, a local file, a `datasets.Dataset`, a DataFrame or a list."""
    from jupyter_ft.core.datasets import catalog

    if isinstance(source, Pager):
        return source
    if isinstance(source, DatasetVersion):
        return VersionPager(source)
    if isinstance(source, (str, Path)):
        ref = str(source)
        path = Path(ref).expanduser()
        if path.is_file():
            return FilePager(path)
        ws = ws or catalog._default_workspace()
        version = catalog.lookup(ws, ref)
        if version is None:
            from jupyter_ft.core.datasets.errors import DatasetNotFound

            raise DatasetNotFound(f"{ref!r} is neither a catalog dataset nor a local file; add it to the catalog "
                                  "(ft.datasets.add) to preview a hub dataset")
        return VersionPager(version)
    mod = type(source).__module__
    if mod.startswith(("pandas", "datasets")) or isinstance(source, list):
        return SlicePager(source, type(source).__name__)
    raise TypeError(f"cannot preview a {type(source).__name__}")
