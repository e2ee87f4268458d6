"""The one schema of a training job.

Every face (form widget, REST body, `%%ft_train` YAML cell, `ft.train(...)`, `jupyter-ft submit`) builds a
`TrainSpec`; it is validated here, stored verbatim with the job and logged to MLflow. Fields left as `None`
are "auto": `jupyter_ft.core.sizing` fills them from the model size and the device and says why in
`TrainSpec.auto`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Technique = Literal["sft"]
TECHNIQUES: tuple[str, ...] = ("sft",)
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Scheduler = Literal["linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoraSpec(_Strict):
    """LoRA adapter settings (PEFT). `r`/`alpha` left empty are sized from the model."""

    r: int | None = Field(None, gt=0, le=1024, description="adapter rank; auto from model size")
    alpha: int | None = Field(None, gt=0, description="scaling alpha; auto = 2 × r")
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = Field("all-linear", description="layers that get adapters")


class TrackingSpec(_Strict):
    """Where the MLflow run goes. An empty `tracking_uri` means the workspace's embedded store."""

    experiment: str = Field("jupyter_ft", min_length=1)
    run_name: str | None = None
    tracking_uri: str | None = None


class SFTOptions(_Strict):
    """Supervised fine-tuning (TRL `SFTTrainer`)."""

    completion_only_loss: bool = Field(True, description="loss on the assistant/completion tokens only")
    packing: bool | None = Field(None, description="pack several rows into one sequence; auto by device")


TECHNIQUE_OPTIONS: dict[str, type[_Strict]] = {"sft": SFTOptions}


class TrainSpec(_Strict):
    """A training job: technique, model, data, hyperparameters, adapter, output and tracking."""

    kind: Literal["train"] = "train"
    name: str | None = Field(None, description="a label for people; the job id stays unique")
    technique: Technique = "sft"
    model: str = Field(..., min_length=1, description="local model folder or hub id")
    dataset: str = Field(..., min_length=1, description="local file (jsonl/json/csv/parquet) or hub id")
    dataset_split: str = "train"
    eval_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="share of rows held out for eval loss")

    lora: LoraSpec | None = Field(default_factory=LoraSpec, description="LoRA settings; null = full fine-tuning")

    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="stop after this many optimizer steps (overrides epochs)")
    learning_rate: float | None = Field(None, gt=0, lt=1)
    batch_size: int | None = Field(None, gt=0, le=4096, description="per-device batch size")
    grad_accum: int | None = Field(None, gt=0, le=4096, description="gradient accumulation steps")
    max_length: int = Field(1024, gt=0, le=1_048_576, description="tokens per sequence (longer rows are truncated)")
    lr_scheduler: Scheduler = "linear"
    warmup_ratio: float = Field(0.0, ge=0.0, le=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    precision: Precision = "auto"
    gradient_checkpointing: bool | None = None
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    seed: int = 42
    logging_steps: int = Field(5, gt=0)
    checkpoint_every: int | None = Field(None, gt=0, description="save a resumable checkpoint every N steps")
    checkpoint_minutes: float = Field(
        5.0, gt=0, description="without checkpoint_every: save every N minutes, stretched so saving stays under 5% of the time")
    max_attempts: int = Field(3, ge=1, le=20, description="retries after the job process dies")
    output_dir: str | None = Field(None, description="where the adapter/model is written; default in the job folder")

    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    sft: SFTOptions | None = None

    auto: dict[str, str] = Field(default_factory=dict, description="why each auto value was chosen (filled in)")

    @field_validator("lora", mode="before")
    @classmethod
    def _lora_flag(cls, v: Any) -> Any:
        # `lora: true` means default LoRA, `lora: false` means full fine-tuning.
        if v is True:
            return {}
        if v is False:
            return None
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        v = v.strip().lower()
        if v in ("auto", "cpu", "cuda", "mps") or (v.startswith("cuda:") and v[5:].isdigit()):
            return v
        raise ValueError("must be auto, cpu, cuda, cuda:N or mps")

    @model_validator(mode="after")
    def _technique_options(self) -> TrainSpec:
        for tech in TECHNIQUE_OPTIONS:
            if tech != self.technique and getattr(self, tech, None) is not None:
                raise ValueError(f"options block '{tech}' given but technique is '{self.technique}'")
        if getattr(self, self.technique) is None:
            object.__setattr__(self, self.technique, TECHNIQUE_OPTIONS[self.technique]())
        return self

    @property
    def options(self) -> BaseModel:
        """The technique's own options block (e.g. `spec.sft`)."""
        return getattr(self, self.technique)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


class SpecError(ValueError):
    """A spec that failed validation; `errors` lists `(field, message)` pairs, and str() names every field."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("invalid job spec: " + "; ".join(f"{f}: {m}" for f, m in errors))


def _field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "spec"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "literal_error" and loc == "technique":
            msg = f"unknown technique {e.get('input')!r}; expected one of {', '.join(TECHNIQUES)}"
        out.append((loc, msg))
    return out


def parse_spec(data: dict[str, Any] | str | Path | TrainSpec) -> TrainSpec:
    """Build a `TrainSpec` from a dict, a YAML/JSON string, or a path to a YAML/JSON file.

    Raises `SpecError` naming every bad field.
    """
    if isinstance(data, TrainSpec):
        return data
    if isinstance(data, Path) or (isinstance(data, str) and "\n" not in data and data.endswith((".yaml", ".yml", ".json"))):
        path = Path(data)
        if not path.is_file():
            raise SpecError([("spec", f"file not found: {path}")])
        data = path.read_text()
    if isinstance(data, str):
        try:
            data = yaml.safe_load(data) if data.strip() else {}
        except yaml.YAMLError as exc:
            raise SpecError([("spec", f"not valid YAML/JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise SpecError([("spec", f"expected a mapping of fields, got {type(data).__name__}")])
    try:
        return TrainSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_field_errors(exc)) from None


def spec_json(spec: BaseModel) -> str:
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys for MLflow params: {'lora': {'r': 8}} -> {'lora.r': 8}."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out
