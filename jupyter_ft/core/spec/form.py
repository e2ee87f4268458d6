"""What a generated form (the Studio's rjsf forms) needs from the server: each spec's JSON schema with layout
hints, and the sizing preview of a half-filled training spec.

    form_schema("train") -> {"kind", "schema", "uiSchema", "groups", "technique_blocks"}
    preview(ws, {"model": "...", "technique": "dpo"}) -> {"valid", "spec", "auto": {path: {"value", "why"}},
                                                          "errors": [{"field", "message"}]}

The JSON schema is the pydantic spec's own (`model_json_schema()`): the form validates with the same rules every
face does, and the server validates the submission again. Layout hints, from the one form layout
(`core/spec/layout.py`, which the notebook form widgets read too): `uiSchema["ui:order"]` puts the main fields
first; `groups` lists every field once, main first, then the *Advanced* groups a form folds (LoRA, schedule,
evaluation, checkpoints, tracking, compute); `technique_blocks` maps each technique to its options field, so a
form shows only the chosen technique's block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from jupyter_ft.core.jobs import submit as api
from jupyter_ft.core.spec import layout
from jupyter_ft.core.spec import train as specs
from jupyter_ft.core.spec.train import SpecError, TrainSpec
from jupyter_ft.core.workspace import Workspace

KINDS = ("train", "eval", "deploy")

class UnknownKind(ValueError):
    pass


def spec_model(kind: str) -> type[BaseModel]:
    if kind == "train":
        return TrainSpec
    if kind == "eval":
        from jupyter_ft.core.spec.eval import EvalSpec

        return EvalSpec
    if kind == "deploy":
        from jupyter_ft.core.spec.deploy import DeploySpec

        return DeploySpec
    raise UnknownKind(f"unknown spec kind {kind!r}; expected one of {', '.join(KINDS)}")


def form_schema(kind: str) -> dict[str, Any]:
    """The spec's JSON schema plus layout hints for a form (see the module docstring)."""
    model = spec_model(kind)
    blocks = {t: t for t in specs.TECHNIQUES} if kind == "train" else {}
    groups = layout.groups(list(model.model_fields), layout.LAYOUTS[kind], list(blocks.values()))
    ui: dict[str, Any] = {"ui:order": [f for g in groups for f in g["fields"]] + ["*"]}
    for f in layout.HIDDEN:
        if f in model.model_fields:
            ui[f] = {"ui:widget": "hidden"}
    for g in groups:
        for f in g["fields"]:
            ui.setdefault(f, {})["ui:group"] = g["name"]
    return {"kind": kind, "schema": model.model_json_schema(), "uiSchema": ui, "groups": groups,
            "technique_blocks": blocks}


# --- the sizing preview ----------------------------------------------------------------------------------------------

NO_DATASET_YET = "(not chosen yet)"  # sizing depends on the model and the device, not on the data
UNCLEARABLE = ("model", "technique")  # sizing cannot go on without these
ROUNDS = 4


def _drop(spec: dict[str, Any], path: str) -> bool:
    """Remove the value an error path names (`lora.r`, `batch_size`), so the rest can still be sized."""
    parts = path.split(".")
    d: Any = spec
    for p in parts[:-1]:
        if not isinstance(d, dict) or p not in d:
            return False
        if not isinstance(d[p], dict):  # the error is inside a list or scalar: drop the whole value
            del d[p]
            return True
        d = d[p]
    if isinstance(d, dict) and parts[-1] in d:
        del d[parts[-1]]
        return True
    return False


def _leaves(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict) and d:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_leaves(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def preview(ws: Workspace, body: dict[str, Any], base_dir: str | Path | None = None) -> dict[str, Any]:
    """What submitting `body` would store, sized for this machine, for a form that may be half filled: `auto`
    gives the value and the reason of every field left empty (or `auto`) that sizing filled in; `errors` names
    every field at fault (one invalid field does not cost the others their auto values: it is left to auto and
    the rest is sized). Without a dataset, everything but the evaluation is sized."""
    errors: list[dict[str, str]] = []
    if not str(body.get("model") or "").strip():
        return {"valid": False, "spec": None, "auto": {}, "errors": [{"field": "model", "message":
                                                                      "choose a model to size the job"}]}
    trial = dict(body)
    chosen = bool(str(trial.get("dataset") or "").strip())
    if not chosen:
        trial["dataset"] = NO_DATASET_YET
    resolved = None
    for _ in range(ROUNDS):
        try:
            resolved = api.preview(trial, ws, base_dir=base_dir, dataset=chosen)
            break
        except SpecError as exc:
            for field, message in exc.errors:
                if {"field": field, "message": message} not in errors:
                    errors.append({"field": field, "message": message})
            fatal = [f for f, _ in exc.errors if f.split(".")[0] in UNCLEARABLE or f == "spec"]
            if fatal or not any([_drop(trial, f) for f, _ in exc.errors]):
                break
            if "dataset" in {f for f, _ in exc.errors} and trial.get("dataset") is None:
                trial["dataset"], chosen = NO_DATASET_YET, False
    if resolved is None:
        return {"valid": False, "spec": None, "auto": {}, "errors": errors}
    given = _leaves(body)
    data = resolved.model_dump(mode="json")
    auto = {}
    for path, value in _leaves(data).items():
        if path.startswith("auto.") or value is None or value == "auto":
            continue
        if given.get(path) not in (None, "", "auto") or path in given and given[path] == value:
            continue
        why = resolved.auto.get(path)
        if why is None and path not in _defaults_none():
            continue
        auto[path] = {"value": value, "why": why or ""}
    if not chosen:
        data["dataset"] = None
    return {"valid": not errors and chosen, "spec": data, "auto": auto, "errors": errors,
            "dataset_chosen": chosen}


_NONE_DEFAULTS: set[str] | None = None


def _defaults_none() -> set[str]:
    """Paths whose schema default is empty (None = auto): a value there after sizing came from sizing."""
    global _NONE_DEFAULTS
    if _NONE_DEFAULTS is None:
        out = set()
        for name, f in TrainSpec.model_fields.items():
            if f.default is None and not f.is_required():
                out.add(name)
        for name, f in specs.LoraSpec.model_fields.items():
            if f.default is None:
                out.add(f"lora.{name}")
        _NONE_DEFAULTS = out
    return _NONE_DEFAULTS
