"""What a model entry in a comparison means: the base model, a LoRA adapter, a whole model, or an endpoint.

Users name models the way they think of them: `"base"`, a registered version (`name@3`, `name@champion`), a job id
(its output), an adapter folder, a model folder, a fetched model's name or a GGUF file (its converted folder),
a hub id, or the URL of an OpenAI-compatible endpoint (`http://host:8000/v1#model-name`). `resolve_models` turns
each into a `ModelRef` saying what to load, so the compare widget, `%%ft_chat` and later the deploy face agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.hub import looks_like_path
from jupyter_ft.core.workspace import Workspace

BASE = "base"
Kind = Literal["base", "adapter", "model", "endpoint"]


class ModelEntryError(ValueError):
    """A model entry that names nothing usable; the message names the entry."""


@dataclass(frozen=True)
class ModelRef:
    entry: str               # as the user wrote it
    label: str               # column title
    kind: Kind
    model: str | None        # base model (for base/adapter) or the model itself (for model)
    adapter: str | None = None
    url: str | None = None   # endpoint base URL (…/v1)
    served_name: str | None = None  # the endpoint's model name
    source: str = ""         # where it came from, shown under the label


def _adapter_base(folder: Path) -> str | None:
    try:
        return json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
    except (OSError, ValueError):
        return None


def _one(entry: str, ws: Workspace) -> ModelRef:
    if entry == BASE:
        return ModelRef(entry, BASE, "base", None, source="the adapters' base model")
    if entry.startswith(("http://", "https://")):
        url, _, name = entry.partition("#")
        return ModelRef(entry, name or url, "endpoint", None, url=url.rstrip("/"), served_name=name or None,
                        source=f"endpoint {url}")
    from jupyter_ft.core.registry import versions as registry

    if registry.is_ref(ws, entry):  # a registered version: name@3, name@champion, name (latest)
        try:
            mv = registry.resolve(ws, entry)
        except registry.UnknownModel as exc:
            raise ModelEntryError(f"model {entry!r}: {exc}") from None
        src = f"registered {mv.ref} ({mv.technique}, job {mv.job_id})"
        if mv.kind == "adapter":
            return ModelRef(entry, entry, "adapter", mv.base_model, adapter=mv.path, source=src)
        return ModelRef(entry, entry, "model", mv.path, source=src)
    if registry.looks_like_ref(entry) and not Path(entry).expanduser().exists():
        try:
            registry.version_number(ws, entry)
        except registry.UnknownModel as exc:  # name@N of a name never registered: say which ones are
            raise ModelEntryError(f"model {entry!r}: {exc}") from None
    try:
        rec = jobstore.get(ws, entry)
    except jobstore.JobNotFound:
        rec = None
    if rec is not None:
        out = Path(rec.spec.get("output_dir") or ws.job_dir(rec.id) / "output")
        if rec.state != "succeeded" or not out.is_dir():
            raise ModelEntryError(f"model {entry!r}: job {rec.id} is {rec.state}; its output is written when it succeeds")
        label = rec.name or rec.id
        if (out / "adapter_config.json").is_file():
            return ModelRef(entry, label, "adapter", rec.spec["model"], adapter=str(out), source=f"job {rec.id} adapter")
        return ModelRef(entry, label, "model", str(out), source=f"job {rec.id} model")
    from jupyter_ft.core.train import model_source

    try:  # a fetched model's name, or a GGUF: its converted folder
        src = model_source.resolve(entry, ws)
    except model_source.ModelSourceError as exc:
        raise ModelEntryError(f"model {entry!r}: {exc}") from None
    if src is not None:
        return ModelRef(entry, src.label or entry, "model", src.folder, source=src.note)
    path = Path(entry).expanduser()
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            base = _adapter_base(path)
            if not base:
                raise ModelEntryError(f"model {entry!r}: adapter_config.json names no base_model_name_or_path")
            return ModelRef(entry, path.name, "adapter", base, adapter=str(path.resolve()), source=f"adapter {path}")
        if (path / "config.json").is_file():
            label = model_source.label_of(path) or path.name  # a converted GGUF's folder is named by its hash
            return ModelRef(entry, label, "model", str(path.resolve()), source=f"model {path}")
        raise ModelEntryError(f"model {entry!r}: folder has neither adapter_config.json nor config.json")
    if looks_like_path(entry) or path.suffix:
        raise ModelEntryError(f"model {entry!r}: no such job, folder or model")
    return ModelRef(entry, entry, "model", entry, source=f"hub model {entry}")


def resolve_models(entries: list[str], ws: Workspace, base: str | None = None) -> list[ModelRef]:
    """Resolve every entry; `"base"` becomes the base model the adapters share (or `base=`). Errors name the entry."""
    if not entries:
        raise ModelEntryError("models: name at least one model (e.g. ['base', '<job id>'])")
    refs = [_one(str(e).strip(), ws) for e in entries]
    if base is not None:
        from jupyter_ft.core.train import model_source

        try:
            src = model_source.resolve(base, ws)
        except model_source.ModelSourceError as exc:
            raise ModelEntryError(f"base {base!r}: {exc}") from None
        base = src.folder if src is not None else base
    if any(r.kind == "base" for r in refs):
        if base is None:
            bases = {r.model for r in refs if r.kind == "adapter"}
            if len(bases) != 1:
                why = "no adapter names it" if not bases else f"the adapters sit on different bases: {sorted(bases)}"
                raise ModelEntryError(f"model 'base': {why}; pass base='<model folder or hub id>'")
            base = bases.pop()
        refs = [ModelRef(r.entry, r.label, "base", base, source=f"base {base}") if r.kind == "base" else r for r in refs]
    seen: dict[str, int] = {}
    out = []
    for r in refs:  # unique column titles
        n = seen.get(r.label, 0)
        seen[r.label] = n + 1
        out.append(r if n == 0 else ModelRef(r.entry, f"{r.label} ({n + 1})", r.kind, r.model, r.adapter, r.url,
                                             r.served_name, r.source))
    return out
