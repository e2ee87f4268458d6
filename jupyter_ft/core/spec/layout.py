"""How a form lays out a spec, for every face that draws one (the notebook form widgets and the Studio's
JSON-schema forms): the groups of fields in order, the first of them ("main") shown open and the rest folded
under *Advanced*, and the fields no person fills in.

A group is `(name, title, fields)`; `TECHNIQUE` in a group's fields stands for every technique's options block
(a form shows only the chosen technique's). A field a spec gains later and no group names is shown in an
*Other* group at the end, never lost."""

from __future__ import annotations

from typing import Any

Group = tuple[str, str, list[str]]

TECHNIQUE = "@technique"
HIDDEN: tuple[str, ...] = ("kind", "auto")  # fixed, or filled in by the server and by sizing

TRAIN_GROUPS: list[Group] = [
    ("main", "Job", ["model", "dataset", "technique", TECHNIQUE, "name", "max_steps", "epochs", "learning_rate",
                     "batch_size"]),
    ("lora", "LoRA", ["lora"]),
    ("schedule", "Schedule", ["lr_scheduler", "warmup_ratio", "weight_decay", "grad_accum", "max_length", "seed",
                              "logging_steps"]),
    ("evaluation", "Evaluation split", ["eval_fraction", "eval_batch_size", "eval_rows", "dataset_split",
                                        "dataset_mapping"]),
    ("checkpoints", "Checkpoints and retries", ["checkpoint_every", "checkpoint_minutes", "max_attempts",
                                                "output_dir"]),
    ("guards", "Guards", ["preference_guard"]),
    ("tracking", "MLflow", ["tracking"]),
    ("compute", "Compute", ["device", "precision", "gradient_checkpointing", "attention", "liger_kernel", "compute",
                            "executor", "torch_threads"]),
]
EVAL_GROUPS: list[Group] = [
    ("main", "Evaluation", ["models", "base", "dataset", "evaluators", "name"]),
    ("data", "Data", ["split", "limit"]),
    ("generation", "Generation", ["generation"]),
    ("statistics", "Statistics", ["baseline", "seed", "bootstrap"]),
    ("compute", "Compute and retries", ["device", "max_attempts"]),
    ("tracking", "MLflow", ["tracking"]),
]
DEPLOY_GROUPS: list[Group] = [
    ("main", "Endpoint", ["name", "base", "adapters", "engine"]),
    ("network", "Network", ["host", "port"]),
    ("capacity", "Capacity", ["max_batch_size", "max_queue", "device", "torch_threads", "max_loras", "max_lora_rank"]),
]
LAYOUTS: dict[str, list[Group]] = {"train": TRAIN_GROUPS, "eval": EVAL_GROUPS, "deploy": DEPLOY_GROUPS}


def layout_of(schema: Any) -> list[Group]:
    """The groups of a spec class, by its `kind` field's default (`TrainSpec` -> train); the training layout for a
    class without one."""
    fields = getattr(schema, "model_fields", {})
    kind = fields["kind"].default if "kind" in fields else None
    return LAYOUTS.get(kind, TRAIN_GROUPS)


def groups(fields: list[str], layout: list[Group], blocks: list[str] = ()) -> list[dict[str, Any]]:
    """Every field of `fields` (the spec's top-level names; hidden ones left out) placed once, in the layout's order:
    `[{"name", "title", "fields", "advanced"}]`; `blocks`: the technique options fields `TECHNIQUE` stands for."""
    fields = [f for f in fields if f not in HIDDEN]
    placed: set[str] = set()
    out = []
    for key, title, names in layout:
        chosen = []
        for n in names:
            for f in (list(blocks) if n == TECHNIQUE else [n]):
                if f in fields and f not in placed:
                    chosen.append(f)
                    placed.add(f)
        if chosen:
            out.append({"name": key, "title": title, "fields": chosen, "advanced": key != "main"})
    rest = [f for f in fields if f not in placed]
    if rest:
        out.append({"name": "other", "title": "Other", "fields": rest, "advanced": True})
    return out


def main_fields(layout: list[Group]) -> tuple[str, ...]:
    """The fields shown open (the main group), in order, without the technique blocks."""
    return tuple(f for key, _, names in layout if key == "main" for f in names if f != TECHNIQUE)
