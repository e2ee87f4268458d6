"""Query parameters (and upload form fields), parsed once into typed values by a declared schema.

    args = parse(self.request.query_arguments, {"after": Int(0), "state": Choice(STATES, multi=True)})

A value that does not parse, is out of range or is given twice is a `ClientError` naming the parameter; a
parameter not in the schema is ignored (Jupyter's own, such as `token`, share the query string).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from jupyter_ft.server.errors import ClientError

INT_RE = re.compile(r"[+-]?[0-9]{1,30}", re.ASCII)  # ASCII digits only: "²".isdigit() is True, int("²") fails
MAX_INT = 2**63 - 1  # what SQLite (the event cursor) and numpy take
MAX_TEXT = 4096


@dataclass(frozen=True)
class Int:
    default: int | None = None
    min: int = 0
    max: int = MAX_INT
    none_words: tuple[str, ...] = ()  # spellings that mean "no value" (e.g. max_chars=none)

    def parse(self, name: str, raw: str) -> int | None:
        if raw.strip().lower() in self.none_words:
            return None
        if not INT_RE.fullmatch(raw.strip()):
            raise ClientError(name, f"must be an integer, got {_show(raw)}")
        v = int(raw)
        if not self.min <= v <= self.max:
            raise ClientError(name, f"must be between {self.min} and {self.max}, got {_show(raw)}")
        return v


@dataclass(frozen=True)
class Float:
    default: float | None = None
    min: float = -math.inf
    max: float = math.inf
    max_open: bool = False  # the upper bound itself is not allowed

    def parse(self, name: str, raw: str) -> float:
        try:
            v = float(raw) if len(raw) <= 100 else math.nan
        except ValueError:
            raise ClientError(name, f"must be a number, got {_show(raw)}") from None
        if not math.isfinite(v):
            raise ClientError(name, f"must be a finite number, got {_show(raw)}")
        top = ")" if self.max_open else "]"
        if v < self.min or v > self.max or (self.max_open and v >= self.max):
            raise ClientError(name, f"must be in [{self.min:g}, {self.max:g}{top}, got {_show(raw)}")
        return v


@dataclass(frozen=True)
class Bool:
    default: bool | None = None

    def parse(self, name: str, raw: str) -> bool:
        word = raw.strip().lower()
        if word in ("true", "1", "yes"):
            return True
        if word in ("false", "0", "no"):
            return False
        raise ClientError(name, f"must be true or false, got {_show(raw)}")


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]
    default: Any = None
    multi: bool = False  # may be repeated (?state=queued&state=running) or comma-separated

    def parse(self, name: str, raw: str) -> str:
        if raw not in self.choices:
            raise ClientError(name, f"must be one of {', '.join(self.choices)}, got {_show(raw)}")
        return raw


@dataclass(frozen=True)
class Text:
    default: str | None = None
    max_len: int = 200

    def parse(self, name: str, raw: str) -> str:
        if len(raw) > self.max_len:
            raise ClientError(name, f"at most {self.max_len} characters, got {len(raw)}")
        return raw


Param = Int | Float | Bool | Choice | Text


def parse(raw: Mapping[str, Sequence[bytes | str]], schema: Mapping[str, Param]) -> dict[str, Any]:
    """Typed values for every parameter of `schema` (its default when absent or empty)."""
    out: dict[str, Any] = {}
    for name, p in schema.items():
        values = [_text(name, v) for v in raw.get(name, [])]
        values = [v for v in values if v != ""]
        if isinstance(p, Choice) and p.multi:
            picked = [p.parse(name, part.strip()) for v in values for part in v.split(",") if part.strip()]
            out[name] = list(dict.fromkeys(picked)) or p.default
            continue
        if len(values) > 1:
            raise ClientError(name, f"given {len(values)} times; give it once")
        out[name] = p.parse(name, values[0]) if values else p.default
    return out


def _text(name: str, v: bytes | str) -> str:
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            raise ClientError(name, "is not UTF-8 text") from None
    if len(v) > MAX_TEXT:
        raise ClientError(name, f"at most {MAX_TEXT} characters, got {len(v)}")
    return v


def _show(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")
