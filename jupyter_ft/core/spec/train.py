"""The one schema of a training job.

Every face (form widget, REST body, `%%ft_train` YAML cell, `ft.train(...)`, `jupyter-ft submit`) builds a
`TrainSpec`; it is validated here, stored verbatim with the job and logged to MLflow. Fields left as `None`
are "auto": `jupyter_ft.core.train.sizing` fills them from the model size and the device and says why in
`TrainSpec.auto`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator

from jupyter_ft.core.train import techniques as _techniques

from jupyter_ft.core.spec.rewards import (BUILTIN_REWARDS, DEFAULT_RUBRIC, ExactMatchReward, JudgeSpec, LengthPenaltyReward, NumericAnswerReward, PythonReward, RegexReward, RewardSpec, reward_entry, reward_name)
from jupyter_ft.core.spec.base import MAX_LABEL, MAX_PATH, MAX_SEED, MAX_STR, FieldError, Strict  # noqa: F401
from jupyter_ft.core.spec.base import Strict as _Strict  # the name other spec modules build on
from jupyter_ft.core.spec.base import normalise_device

from jupyter_ft.core.spec.compute import ComputeSpec, ExecutorSpec  # noqa: E402
from jupyter_ft.core.spec.guard import PreferenceGuardSpec  # noqa: E402

Precision = Literal["auto", "fp32", "bf16", "fp16"]
Scheduler = Literal["linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr"]


class LoraSpec(_Strict):
    """LoRA adapter settings (PEFT). `r`/`alpha` left empty are sized from the model."""

    r: int | None = Field(None, gt=0, le=1024, description="adapter rank; auto from model size")
    alpha: int | None = Field(None, gt=0, description="scaling alpha; auto = 2 × r")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="adapter dropout; 0 (PEFT's default) skips a mask on "
                                                            "every adapted layer, ~20% of a small model's forward")
    target_modules: list[str] | Literal["all-linear"] = Field("all-linear", description="layers that get adapters")


class TrackingSpec(_Strict):
    """Where the MLflow run goes. An empty `tracking_uri` means the workspace's embedded store."""

    experiment: str = Field("jupyter_ft", min_length=1, max_length=MAX_LABEL)
    run_name: str | None = Field(None, max_length=MAX_LABEL)
    tracking_uri: str | None = Field(None, max_length=MAX_PATH)


class TrainSpecFields(_Strict):
    """The fields every training job has, whatever its technique. `TrainSpec` adds the `technique` choice and one
    options block per registered technique (see `jupyter_ft.core.train.techniques`)."""

    kind: Literal["train"] = "train"
    name: str | None = Field(None, max_length=MAX_LABEL, description="a label for people; the job id stays unique")
    technique: str = Field("sft", description="the training technique; its options block is the field of its name")
    model: str = Field(..., min_length=1, max_length=MAX_PATH, description="local model folder or hub id")
    dataset: str = Field(..., min_length=1, max_length=MAX_PATH,
                         description="catalog name[@version], local file or folder, or hub id; imported into the "
                                     "catalog and pinned to name@version at submission")
    dataset_split: str = Field("train", min_length=1, max_length=MAX_LABEL, description="split of a hub dataset")
    dataset_mapping: dict[str, str] | None = Field(
        None, description="columns of a dataset imported at submission, as {field: column} (e.g. {prompt: question})")
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of rows held out (seeded) for eval loss; "
                                                                  "0 = no evaluation")
    eval_batch_size: int | None = Field(None, gt=0, le=4096, description="per-device batch size of evaluation; auto")
    eval_rows: int | None = Field(None, gt=0, description="held-out rows scored per evaluation; auto: evaluation "
                                                          "costs at most about a tenth of the training time")

    lora: LoraSpec | None = Field(default_factory=LoraSpec, description="LoRA settings; null = full fine-tuning")

    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="stop after this many optimizer steps (overrides epochs)")
    learning_rate: float | None = Field(None, gt=0, lt=1)
    batch_size: int | None = Field(None, gt=0, le=4096, description="per-device batch size")
    grad_accum: int | None = Field(None, gt=0, le=4096, description="gradient accumulation steps")
    max_length: int | None = Field(None, gt=0, le=1_048_576,
                                   description="tokens per sequence (longer rows are truncated); auto: the data's "
                                               "p99 length with the model's tokenizer")
    time_budget: float | None = Field(None, ge=60, le=30 * 86400,
                                      description="wall time to fit the run in, e.g. '15m' or '1h30m' (seconds as a "
                                                  "number); auto-sizing turns it into steps, batch and learning rate")
    lr_scheduler: Scheduler = "linear"
    warmup_ratio: float = Field(0.0, ge=0.0, le=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    precision: Precision = "auto"
    gradient_checkpointing: bool | None = None
    attention: Literal["sdpa", "eager", "flash_attention_2", "flash_attention_3"] | None = Field(
        None, description="attention implementation; auto: flash-attention on CUDA when installed, else sdpa")
    liger_kernel: bool | None = Field(None, description="Liger's fused Triton kernels (RMSNorm, RoPE, SwiGLU); auto: "
                                                        "on CUDA when liger-kernel is installed")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    torch_threads: int | None = Field(None, gt=0, le=1024, description="torch threads per process on the CPU; auto: "
                                      "the cores shared among this workspace's running CPU jobs and endpoints, less "
                                      "what other programs keep busy")
    seed: int = Field(42, ge=0, le=MAX_SEED, description="random seed (0 to 2**32 - 1)")
    logging_steps: int = Field(5, gt=0, description="log the training metrics every N steps (a run shorter than "
                               "2N steps logs every half of it, so even a short run draws a curve)")
    checkpoint_every: int | None = Field(None, gt=0, description="save a resumable checkpoint every N steps")
    checkpoint_minutes: float = Field(
        5.0, gt=0, description="without checkpoint_every: save every N minutes, stretched so saving stays under 5% of the time")
    max_attempts: int = Field(3, ge=1, le=20, description="retries after the job process dies")
    output_dir: str | None = Field(None, max_length=MAX_PATH, description="where the adapter/model is written; default in the job folder")

    preference_guard: PreferenceGuardSpec = Field(
        default_factory=PreferenceGuardSpec, description="over-optimisation guard of dpo and kto (see "
        "core.spec.guard): stop (default), warn or off")

    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    register_as: str | Literal[False] | None = Field(
        None, description="registered model the output becomes a version of; default: <base>-<technique>; "
                          "false: do not register")
    compute: ComputeSpec | None = Field(None, description="processes/GPUs and strategy (`auto` for both); empty: one "
                                        "process. Several run under `accelerate launch` (see core.train.compute)")
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec, description="local (default) or ray, with the "
                                   "cluster's address")

    @field_validator("lora", mode="before")
    @classmethod
    def _lora_flag(cls, v: Any) -> Any:
        # `lora: true` means default LoRA, `lora: false` means full fine-tuning.
        if v is True:
            return {}
        if v is False:
            return None
        return v

    @field_validator("time_budget", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> Any:
        if v is None or v == "":
            return None
        from jupyter_ft.core.train.budget import parse_duration

        return parse_duration(v)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        return normalise_device(v)

    @field_validator("register_as", mode="before")
    @classmethod
    def _register_as(cls, v: Any) -> Any:
        if v is True:
            return None  # `register_as: true`: the derived name
        if isinstance(v, str):
            from jupyter_ft.core.registry.names import check_name

            return check_name(v.strip())
        return v

    @model_validator(mode="after")
    def _one_length_of_run(self) -> TrainSpecFields:
        if self.time_budget is not None and self.max_steps is not None and "max_steps" not in self.auto:
            # (a resolved spec holds both: the steps its budget became, explained in `auto`)
            raise FieldError("time_budget", "give max_steps or time_budget, not both (the budget is turned into steps)")
        return self

    @model_validator(mode="after")
    def _technique_options(self) -> TrainSpecFields:
        """Only the chosen technique's block may be given; it is filled with its defaults when left out (or the
        unit says what it needs); then the unit's own submission checks run."""
        fields = type(self).model_fields
        for tech in _techniques.names():
            if tech in fields and tech != self.technique and getattr(self, tech, None) is not None:
                raise ValueError(f"options block '{tech}' given but technique is '{self.technique}'")
        unit = _techniques.find(self.technique)
        if unit is None or self.technique not in fields:
            return self  # a schema of its own (the `technique` field's choices have already refused unknown names)
        if getattr(self, self.technique) is None:
            try:
                object.__setattr__(self, self.technique, unit.default_options())
            except ValidationError as exc:
                if unit.needs:
                    raise FieldError(f"{unit.name}.{unit.needs[0]}", unit.needs[1]) from None
                first = exc.errors()[0]
                where = ".".join(str(p) for p in (unit.name, *first["loc"]))
                raise FieldError(where, f"technique {unit.name!r} needs it: {first['msg']}") from None
        if unit.check is not None:
            try:
                unit.check(self)
            except ValueError:
                raise
            except Exception as exc:  # a unit's bug is reported as such, never as a traceback from a face
                raise FieldError("technique", f"the check of technique {unit.name!r} failed: "
                                              f"{type(exc).__name__}: {exc}") from None
        return self

    @property
    def options(self) -> BaseModel:
        """The technique's own options block (e.g. `spec.sft`)."""
        return getattr(self, self.technique)

    @property
    def unit(self) -> _techniques.Technique:
        """The technique's unit (options model, data kind, defaults, checks, `build_trainer`)."""
        return _techniques.get(self.technique)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _build_train_spec() -> type[TrainSpecFields]:
    """`TrainSpec`: the common fields, `technique` as a choice among the registered units, and one optional options
    block per unit under its name (`dpo: {beta: 0.1}`), so the JSON schema, the form and every face list a newly
    registered technique without being touched."""
    units = {}
    for name, unit in list(_techniques.registry().items()):
        if name in TrainSpecFields.model_fields or name == "auto" or hasattr(TrainSpecFields, name):
            _techniques.reject(name, "its name is taken by a field or attribute every job spec has")
            continue
        units[name] = unit
    blocks: dict[str, Any] = {
        name: (unit.options | None, Field(None, description=f"options of technique {name}: {unit.summary}"))
        for name, unit in units.items()}
    return create_model(
        "TrainSpec",
        __base__=TrainSpecFields,
        __module__=__name__,
        __doc__="A training job: technique, model, data, hyperparameters, adapter, output, tracking and the "
                "technique's own options block.",
        technique=(Literal[tuple(units)], Field("sft", description="the training technique: "
                                                + ", ".join(units) + "; its options block is the field of its name")),
        **blocks,
        auto=(dict[str, str], Field(default_factory=dict, description="why each auto value was chosen (filled in)")),
    )


TrainSpec = _build_train_spec()
TECHNIQUES: tuple[str, ...] = tuple(n for n in _techniques.names() if n in TrainSpec.model_fields)
# technique -> its options model, as the form reads them (built from the registry)
TECHNIQUE_OPTIONS: dict[str, type[BaseModel]] = {n: _techniques.get(n).options for n in TECHNIQUES}


class SpecError(ValueError):
    """A spec that failed validation; `errors` lists `(field, message)` pairs, and str() names every field."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("invalid job spec: " + "; ".join(f"{f}: {m}" for f, m in errors))


def _field_errors(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"]
        cause = (e.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            loc, msg = ".".join(p for p in (loc, cause.field) if p), str(cause)
        elif isinstance(cause, ValueError):
            msg = str(cause)
        loc = loc or "spec"
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "literal_error" and loc == "technique":
            msg = f"unknown technique {e.get('input')!r}; expected one of {', '.join(TECHNIQUES)}"
        out.append((loc, msg))
    return out


def yaml_problem(exc: yaml.YAMLError) -> str:
    """'line 2, column 8: expected ',' or ']'' instead of PyYAML's multi-line report."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return where + (getattr(exc, "problem", None) or str(exc).splitlines()[0])


def read_spec(source: dict[str, Any] | str | Path, what: str | None = None) -> dict[str, Any]:
    """The mapping of fields a spec source holds: a dict as given, YAML/JSON text, or a YAML/JSON file (a `Path`,
    or a one-line string ending in .yaml/.yml/.json). Read once here, for `parse_spec` and the faces that add
    `--set` overrides before validating. `what` names the source in errors (default: the file, or "the spec").
    Raises `SpecError` (field `spec`)."""
    if isinstance(source, dict):
        return source
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                    and source.endswith((".yaml", ".yml", ".json"))):
        path = Path(source)
        if not path.is_file():
            raise SpecError([("spec", f"file not found: {path}")])
        try:
            source = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError([("spec", f"cannot read {path}: {exc}")]) from None
        what = what or str(path)
    if not isinstance(source, str):
        raise SpecError([("spec", f"expected a mapping of fields, YAML text or a file, got {type(source).__name__}")])
    try:
        data = yaml.safe_load(source) if source.strip() else {}
    except yaml.YAMLError as exc:
        raise SpecError([("spec", f"{what or 'the spec'} is not valid YAML/JSON: {yaml_problem(exc)}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError([("spec", f"{what or 'the spec'} must be a mapping of fields (model: …, dataset: …), "
                                  f"got {type(data).__name__}")])
    return data


def parse_spec(data: dict[str, Any] | str | Path | TrainSpec) -> TrainSpec:
    """Build a `TrainSpec` from a dict, a YAML/JSON string, or a path to a YAML/JSON file.

    Raises `SpecError` naming every bad field.
    """
    if isinstance(data, TrainSpec):
        return data
    data = read_spec(data)
    try:
        return TrainSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_field_errors(exc)) from None


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
