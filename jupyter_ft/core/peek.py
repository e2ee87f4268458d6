"""Read a local dataset file's column names cheaply (first rows or the header only), so that a dataset of the wrong
kind for a technique (preference rows sent to SFT, prompt-only rows sent to DPO) is refused at submission, before
anything is queued. Hub datasets are not fetched here: the job checks them in its first seconds.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .datasets.formats import TECHNIQUE_DATA, DatasetFormatError, detect

PEEK_ROWS = 20
MAX_JSON_BYTES = 50 * 1024 * 1024  # a .json array is parsed whole; bigger files are left to the job


def columns(path: str | Path) -> list[str] | None:
    """Column names of a local .jsonl/.json/.csv/.parquet file, from its first rows; None when unknown here."""
    p = Path(path).expanduser()
    if not p.is_file():
        return None
    suffix = p.suffix.lower()
    try:
        if suffix == ".jsonl":
            cols: dict[str, None] = {}
            with p.open(encoding="utf-8") as fh:
                seen = 0
                for line in fh:
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        return None
                    cols.update(dict.fromkeys(row))
                    seen += 1
                    if seen >= PEEK_ROWS:
                        break
            return list(cols) if seen else None
        if suffix == ".json":
            if p.stat().st_size > MAX_JSON_BYTES:
                return None
            data = json.loads(p.read_text(encoding="utf-8"))
            if isinstance(data, list) and data and all(isinstance(r, dict) for r in data[:PEEK_ROWS]):
                cols = {}
                for r in data[:PEEK_ROWS]:
                    cols.update(dict.fromkeys(r))
                return list(cols)
            if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
                return list(data)  # columnar {"col": [...]}
            return None
        if suffix == ".csv":
            with p.open(newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), None)
            return [h for h in header if h] if header else None
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(p).names)
    except Exception:  # unreadable or malformed here: the job reports the file, row and column
        return None
    return None


def fitting_techniques(cols: list[str]) -> list[str]:
    """Techniques whose data shape these columns fit (for 'did you mean' hints)."""
    out = []
    for technique in TECHNIQUE_DATA:
        try:
            detect(technique, cols)
        except DatasetFormatError:
            continue
        out.append(technique)
    return out


def check_columns(technique: str, dataset: str) -> str | None:
    """The reason a local dataset cannot feed `technique`, naming the expected columns; None if it fits or is not
    a readable local file."""
    cols = columns(dataset)
    if cols is None:
        return None
    try:
        detect(technique, cols)
    except DatasetFormatError as exc:
        return f"{dataset}: {exc}{hint(cols)}"
    return None


def hint(cols: list[str]) -> str:
    fits = fitting_techniques(cols)
    return f" (these columns fit technique {', '.join(fits)})" if fits else ""

