"""What an endpoint serves: adapter entries (registry refs, job ids, folders) and the base, resolved to folders.

A registered version (`humanlike@3`, `support@champion`) is resolved through the model registry
(`core.registry.resolve`, which downloads its adapter folder into the workspace cache when needed); job ids and
folders go through `core.registry.model_refs`, as the compare widget's entries do. Every adapter must sit on the endpoint's
base: a mismatch is refused naming both bases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from jupyter_ft.core.registry import model_refs as model_entries
from jupyter_ft.core.registry import versions as registry
from jupyter_ft.core.spec.deploy import SERVED_RE, split_adapter_entry
from jupyter_ft.core.workspace import Workspace


class DeployError(ValueError):
    """A deployment that cannot be made as asked; `field` is the spec field at fault."""

    def __init__(self, field: str | None, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class AdapterSource:
    served: str          # the model name requests use
    path: str            # absolute adapter folder
    base: str            # the base model it was trained on (as its record / adapter_config.json says)
    entry: str           # as the user wrote it
    ref: str | None      # `name@version` when it is a registered version (for lineage)

    def to_dict(self) -> dict:
        return {"path": self.path, "base": self.base, "entry": self.entry, "ref": self.ref}


def _same_base(a: str, b: str) -> bool:
    """Bases match when their strings match or they are the same local folder."""
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.is_dir() and pb.is_dir() and pa.resolve() == pb.resolve()


def _from(base_dir: str | Path | None, text: str) -> str:
    """A relative folder is read from where the submitter stands (REST: the server's root), like datasets."""
    if base_dir and not Path(text).expanduser().is_absolute() and (Path(base_dir) / text).exists():
        return str((Path(base_dir) / text).resolve())
    return text


def resolve_adapter(ws: Workspace, entry: str, field: str = "adapters",
                    base_dir: str | Path | None = None) -> AdapterSource:
    served, text = split_adapter_entry(entry)
    text = _from(base_dir, text)
    if registry.is_ref(ws, text):
        try:
            mv = registry.resolve(ws, text)
        except ValueError as exc:
            raise DeployError(field, str(exc)) from None
        if mv.kind != "adapter":
            raise DeployError(field, f"{text!r} is a full model (version {mv.version} of {mv.name!r}), not a LoRA "
                                     f"adapter; deploy it as base={text!r}")
        return AdapterSource(served or text, str(Path(mv.path).resolve()), mv.base_model, entry,
                             f"{mv.name}@{mv.version}")
    if "@" in text and not Path(text).expanduser().exists():
        raise DeployError(field, f"{text!r}: no registered model of that name (refs look like name@3 or name@champion)")
    try:
        ref = model_entries._one(text, ws)
    except model_entries.ModelEntryError as exc:
        raise DeployError(field, str(exc)) from None
    if ref.kind != "adapter":
        raise DeployError(field, f"{text!r} is a whole model, not a LoRA adapter; deploy it as base={text!r}")
    name = served or (ref.label if ref.source.startswith("job") else Path(ref.adapter).name)
    return AdapterSource(name, ref.adapter, ref.model, entry, None)


def resolve_base(ws: Workspace, base: str | None, adapters: list[AdapterSource],
                 base_dir: str | Path | None = None) -> tuple[str, str | None]:
    """(base model folder or hub id, its registry ref or None). Without `base`: the adapters' common base. A fetched
    model's name or a GGUF is served from its converted folder."""
    if base is not None:
        base = _from(base_dir, base)
    if base is None:
        bases = sorted({a.base for a in adapters})
        if len(bases) != 1:
            raise DeployError("base", f"the adapters sit on different bases ({', '.join(bases)}); name one with base=")
        base = bases[0]
    if registry.is_ref(ws, base):
        try:
            mv = registry.resolve(ws, base)
        except ValueError as exc:
            raise DeployError("base", str(exc)) from None
        if mv.kind == "adapter":
            raise DeployError("base", f"{base!r} is a LoRA adapter; list it in adapters= (its base is "
                                      f"{mv.base_model})")
        return str(Path(mv.path).resolve()), f"{mv.name}@{mv.version}"
    from jupyter_ft.core.train import model_source

    try:  # a fetched model's name, or a GGUF: its converted folder
        src = model_source.resolve(base, ws, base_dir)
    except model_source.ModelSourceError as exc:
        raise DeployError("base", str(exc)) from None
    if src is not None:
        return src.folder, None
    path = Path(base).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise DeployError("base", f"{base}: the folder holds no config.json (not a model folder)")
        return str(path.resolve()), None
    from jupyter_ft.core.hub import looks_like_path

    if looks_like_path(base):
        raise DeployError("base", f"{base}: no such model folder")
    return base, None  # a hub id


def check_bases(base: str, adapters: list[AdapterSource], field: str = "adapters") -> None:
    for a in adapters:
        if not _same_base(a.base, base):
            raise DeployError(field, f"adapter {a.served!r} was trained on base {a.base!r}, but the endpoint serves "
                                     f"base {base!r}")


def check_served_names(adapters: list[AdapterSource], taken: set[str], field: str = "adapters") -> None:
    seen = set(taken)
    for a in adapters:
        if not SERVED_RE.match(a.served):
            raise DeployError(field, f"served name {a.served!r} is not usable as a model name; name it with "
                                     f"'served_name=entry'")
        if a.served in seen:
            raise DeployError(field, f"model name {a.served!r} is already served by this endpoint")
        seen.add(a.served)


def adapter_rank(path: str) -> int:
    """The largest LoRA rank in an adapter folder (`r`, or its `rank_pattern`), for vLLM's --max-lora-rank."""
    try:
        cfg = json.loads((Path(path) / "adapter_config.json").read_text())
    except (OSError, ValueError):
        return 0
    ranks = [int(cfg.get("r") or 0), *[int(v) for v in (cfg.get("rank_pattern") or {}).values()]]
    return max(ranks)
