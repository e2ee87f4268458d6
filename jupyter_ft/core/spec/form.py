"""What a generated form (the Studio's rjsf forms) needs from the server: each spec's JSON schema with layout
hints, and the sizing preview of a half-filled training spec.

    form_schema("train") -> {"kind", "schema", "uiSchema", "groups", "technique_blocks"}
    preview(ws, {"model": "...", "technique": "dpo"}) -> {"valid", "spec", "auto": {path: {"value", "why"}},
                                                          "errors": [{"field", "message"}]}

The JSON schema is the pydantic spec's own (`model_json_schema()`): the form validates with the same rules every
face does, and the server validates the submission again. Layout hints: `uiSchema["ui:order"]` puts the main
fields first; `groups` lists every field once, main first, then the *Advanced* groups a form folds (LoRA, schedule,
evaluation, checkpoints, tracking, compute); `technique_blocks` maps each technique to its options field, so a
form shows only the chosen technique's block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from jupyter_ft.core.jobs import submit as api
from jupyter_ft.core.spec import train as specs
from jupyter_ft.core.spec.train import SpecError, TrainSpec
from jupyter_ft.core.workspace import Workspace

KINDS = ("train", "eval", "deploy")

TRAIN_GROUPS: list[tuple[str, str, list[str]]] = [
    ("main", "Job", ["model", "dataset", "technique", "@technique", "name", "max_steps", "epochs", "learning_rate",
                     "batch_size"]),
    ("lora", "LoRA", ["lora"]),
    ("schedule", "Schedule", ["lr_scheduler", "warmup_ratio", "weight_decay", "grad_accum", "max_length", "seed",
                              "logging_steps"]),
    ("evaluation", "Evaluation split", ["eval_fraction", "eval_batch_size", "eval_rows", "dataset_split",
                                        "dataset_mapping"]),
    ("checkpoints", "Checkpoints and retries", ["checkpoint_every", "checkpoint_minutes", "max_attempts",
                                                "output_dir"]),
    ("tracking", "MLflow", ["tracking"]),
    ("compute", "Compute", ["device", "precision", "gradient_checkpointing", "attention", "liger_kernel", "compute",
                            "executor"]),
]
EVAL_GROUPS: list[tuple[str, str, list[str]]] = [
    ("main", "Evaluation", ["models", "base", "dataset", "evaluators", "name"]),
    ("data", "Data", ["split", "limit"]),
    ("generation", "Generation", ["generation"]),
    ("statistics", "Statistics", ["seed", "bootstrap"]),
    ("compute", "Compute and retries", ["device", "max_attempts"]),
    ("tracking", "MLflow", ["tracking"]),
]
DEPLOY_GROUPS: list[tuple[str, str, list[str]]] = [
    ("main", "Endpoint", ["name", "base", "adapters", "engine"]),
    ("network", "Network", ["host", "port"]),
    ("capacity", "Capacity", ["max_batch_size", "max_queue", "device", "max_loras", "max_lora_rank"]),
]
HIDDEN = ("kind", "auto")  # filled by the server, never by a person


class UnknownKind(ValueError):
    pass


def spec_model(kind: str) -> type[BaseModel]:
    if kind == "train":
        return TrainSpec
    if kind == "eval":
        from jupyter_ft.core.spec.eval import EvalSpec

        return EvalSpec
    if kind == "deploy":
        try:
            from jupyter_ft.core.spec.deploy import DeploySpec  # the endpoints' spec (core/spec/deploy.py)
        except ImportError:
            raise UnknownKind("the deploy spec is not available in this installation") from None
        return DeploySpec
    raise UnknownKind(f"unknown spec kind {kind!r}; expected one of {', '.join(KINDS)}")


def _groups(model: type[BaseModel], layout: list[tuple[str, str, list[str]]],
            blocks: dict[str, str]) -> list[dict[str, Any]]:
    fields = [f for f in model.model_fields if f not in HIDDEN]
    placed: set[str] = set()
    out = []
    for key, title, names in layout:
        chosen = []
        for n in names:
            for f in (list(blocks.values()) if n == "@technique" else [n]):
                if f in fields and f not in placed:
                    chosen.append(f)
                    placed.add(f)
        if chosen:
            out.append({"name": key, "title": title, "fields": chosen, "advanced": key != "main"})
    rest = [f for f in fields if f not in placed]  # a field added to a spec later is never lost from the form
    if rest:
        out.append({"name": "other", "title": "Other", "fields": rest, "advanced": True})
    return out


def form_schema(kind: str) -> dict[str, Any]:
    """The spec's JSON schema plus layout hints for a form (see the module docstring)."""
    model = spec_model(kind)
    layout = {"train": TRAIN_GROUPS, "eval": EVAL_GROUPS}.get(kind, DEPLOY_GROUPS)
    blocks = {t: t for t in specs.TECHNIQUES} if kind == "train" else {}
    groups = _groups(model, layout, blocks)
    ui: dict[str, Any] = {"ui:order": [f for g in groups for f in g["fields"]] + ["*"]}
    for f in HIDDEN:
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
