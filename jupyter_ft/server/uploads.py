"""An upload written to disk as its body streams in: memory stays flat whatever the size.

The body is either `multipart/form-data` (one file part, any number of small text fields: the import options),
parsed incrementally by `python-multipart`, or the raw file itself (`?filename=data.jsonl`). Past `limit` bytes
the upload stops with `PayloadTooLarge`; a second file part is refused, naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from jupyter_ft.core.datasets.sources import SUFFIXES

from jupyter_ft.server.errors import ClientError, PayloadTooLarge

MAX_FILENAME = 200
MAX_FIELD = 64 * 1024  # an option value (a column mapping is the largest)
MAX_FIELDS = 32


def check_filename(raw: str | None) -> str:
    """The base name of an uploaded file, refused (naming `filename`) when empty, too long or of an unknown type."""
    name = Path((raw or "").replace("\\", "/")).name.strip()
    if not name:
        raise ClientError("filename", "send the file as multipart/form-data (field 'file') or give "
                                      "?filename=NAME.jsonl with a raw body")
    if len(name) > MAX_FILENAME:
        raise ClientError("filename", f"at most {MAX_FILENAME} characters, got {len(name)}")
    if "\x00" in name or any(ord(c) < 32 for c in name):
        raise ClientError("filename", "must not contain control characters")
    if Path(name).suffix.lower() not in SUFFIXES:
        raise ClientError("filename", f"{name!r} must end in one of {', '.join(sorted(SUFFIXES))}")
    return name


class StreamedUpload:
    """Feed it the body chunk by chunk (`feed`), then `close()`: `filename`, `path` (the file on disk, under
    `folder` with a name of our own, so a client's name never reaches the file system) and `fields`."""

    def __init__(self, folder: Path, content_type: str, limit: int, filename: str | None = None):
        self.folder = folder
        self.limit = limit
        self.received = 0
        self.fields: dict[str, list[str]] = {}
        self.filename: str | None = None
        self.path: Path | None = None
        self._out: BinaryIO | None = None
        ctype, opts = parse_options_header(content_type)
        if ctype == b"multipart/form-data":
            boundary = opts.get(b"boundary")
            if not boundary:
                raise ClientError("body", "multipart/form-data without a boundary")
            self._part: dict[str, str | None] = {}
            self._header: list[bytes] = [b"", b""]
            self._field: bytearray | None = None
            self._parser = MultipartParser(boundary, {
                "on_part_begin": self._part_begin, "on_header_field": self._hfield, "on_header_value": self._hvalue,
                "on_header_end": self._hend, "on_headers_finished": self._headers_done,
                "on_part_data": self._data, "on_part_end": self._part_end})
        else:
            self._parser = None
            self._open_file(check_filename(filename))

    # --- feeding ---
    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.limit:
            raise PayloadTooLarge("file", self.limit)
        if self._parser is None:
            assert self._out is not None
            self._out.write(chunk)
            return
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            raise ClientError("body", f"malformed multipart/form-data: {exc}") from None

    def close(self) -> None:
        if self._parser is not None:
            try:
                self._parser.finalize()
            except MultipartParseError as exc:
                raise ClientError("body", f"malformed multipart/form-data: {exc}") from None
        self._close_file()
        if self.path is None:
            raise ClientError("file", "no file in the upload: send it as a multipart part with a filename "
                                      "(field 'file')")

    def abort(self) -> None:
        self._close_file()

    # --- multipart callbacks ---
    def _part_begin(self) -> None:
        self._part = {}

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._header[0] += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._header[1] += data[start:end]

    def _hend(self) -> None:
        key, value = (x.decode("latin-1") for x in self._header)
        self._header = [b"", b""]
        if key.strip().lower() == "content-disposition":
            _, opts = parse_options_header(value)
            self._part["name"] = opts.get(b"name", b"").decode("utf-8", "replace")
            fn = opts.get(b"filename")
            self._part["filename"] = None if fn is None else fn.decode("utf-8", "replace")

    def _headers_done(self) -> None:
        name, fn = self._part.get("name") or "", self._part.get("filename")
        if fn is not None:
            if self.path is not None:
                raise ClientError(name or "file", f"one file per upload; got a second one ({fn[:80]!r})")
            self._open_file(check_filename(fn))
            self._field = None
        else:
            if not name:
                raise ClientError("body", "a multipart part without a name")
            if len(self.fields) >= MAX_FIELDS and name not in self.fields:
                raise ClientError(name, f"at most {MAX_FIELDS} form fields")
            self._field = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._field is None:
            if self._out is not None:
                self._out.write(data[start:end])
            return
        self._field += data[start:end]
        if len(self._field) > MAX_FIELD:
            raise ClientError(self._part.get("name"), f"form field larger than {MAX_FIELD} bytes")

    def _part_end(self) -> None:
        if self._field is not None:
            name = self._part.get("name") or ""
            try:
                self.fields.setdefault(name, []).append(self._field.decode("utf-8"))
            except UnicodeDecodeError:
                raise ClientError(name, "is not UTF-8 text") from None
            self._field = None
        else:
            self._close_file()

    # --- the file ---
    def _open_file(self, filename: str) -> None:
        self.filename = filename
        self.folder.mkdir(parents=True, exist_ok=True)
        suffix = re.sub(r"[^a-z0-9.]", "", Path(filename).suffix.lower())
        self.path = self.folder / f"upload{suffix}"
        self._out = self.path.open("wb")

    def _close_file(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
