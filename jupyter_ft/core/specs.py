"""The one schema of a training job.

Every face (form widget, REST body, `%%ft_train` YAML cell, `ft.train(...)`, `jupyter-ft submit`) builds a
`TrainSpec`; it is validated here, stored verbatim with the job and logged to MLflow. Fields left as `None`
are "auto": `jupyter_ft.core.sizing` fills them from the model size and the device and says why in
`TrainSpec.auto`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .compute import ComputeSpec, ExecutorSpec

Technique = Literal["sft", "dpo", "orpo", "kto", "grpo", "rlaif", "online_dpo"]
TECHNIQUES: tuple[str, ...] = ("sft", "dpo", "orpo", "kto", "grpo", "rlaif", "online_dpo")
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Scheduler = Literal["linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr"]


class FieldError(ValueError):
    """Raised by a model-level validator to blame one field (relative to the model): errors then name it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


# Limits that keep a spec a spec: no string field may hold a document (a 10 MB `name` once grew workspace.db by
# 160 MB and every job list with it); fields that name things have tighter limits of their own.
MAX_STR = 1_000_000          # reward source code and rubrics are the longest legitimate strings
MAX_LABEL = 200              # names, experiments, run names
MAX_PATH = 4096              # model / dataset / output paths and hub ids
MAX_SEED = 2**32 - 1         # numpy's seed range


def _int_annotation(annotation: Any) -> bool:
    """True for `int` and `int | None` annotations (not for bool, float or unions with other types)."""
    if annotation is int:
        return True
    args = getattr(annotation, "__args__", None)
    return bool(args) and int in args and all(a in (int, type(None)) for a in args)


class _Strict(BaseModel):
    """Base of every spec model: unknown fields are errors, numbers must be finite (`inf`, `nan` and JSON's `1e309`
    are refused naming the field), booleans are not integers (`max_steps: true` is not 1), strings are bounded."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False, str_max_length=MAX_STR)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_int(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                if isinstance(data.get(name), bool) and _int_annotation(info.annotation):
                    raise FieldError(name, f"must be an integer, got {data[name]!r}")
        return data


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


class SFTOptions(_Strict):
    """Supervised fine-tuning (TRL `SFTTrainer`)."""

    completion_only_loss: bool = Field(True, description="loss on the assistant/completion tokens only")
    packing: bool | None = Field(None, description="pack several rows into one sequence; auto: on where a varlen "
                                                    "attention kernel makes it pay (CUDA + flash-attention), else off")
    packing_strategy: Literal["bfd", "wrapped"] | None = Field(
        None, description="bfd: whole rows, each attends only to itself (needs a varlen kernel to be fast); wrapped: "
                          "rows concatenated and cut at max_length, attending across boundaries. Auto by kernels")
    group_by_length: bool | None = Field(None, description="batch rows of similar length together (less padding); "
                                                           "auto: on when not packing")
    token_metrics: bool | None = Field(None, description="log entropy and mean_token_accuracy each step through TRL's "
                                                         "fused LM head; auto: on CUDA only (on CPU the model's own "
                                                         "loss is faster)")


# --- preference optimisation (paired chosen/rejected data) ------------------------------------------------------

DPO_LOSSES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
              "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm")


class DPOOptions(_Strict):
    """Direct preference optimisation (TRL `DPOTrainer`). With LoRA the reference model is the base model with the
    adapter switched off: no second copy in memory."""

    beta: float = Field(0.1, gt=0, description="how far the policy may move from the reference (IPO: tau)")
    loss_type: list[str] = Field(["sigmoid"], min_length=1, description=f"one or more of {', '.join(DPO_LOSSES)}")
    loss_weights: list[float] | None = Field(None, description="weights when several loss types are combined")
    label_smoothing: float = Field(0.0, ge=0.0, lt=0.5, description="robust/EXO: share of flipped labels")

    @field_validator("loss_type", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("loss_type")
    @classmethod
    def _known_losses(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if x not in DPO_LOSSES]
        if bad:
            raise ValueError(f"unknown loss {bad[0]!r}; expected one of {', '.join(DPO_LOSSES)}")
        return v

    @model_validator(mode="after")
    def _weights_match(self) -> DPOOptions:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_type):
            raise FieldError("loss_weights", f"has {len(self.loss_weights)} values for {len(self.loss_type)} loss types")
        return self


class ORPOOptions(_Strict):
    """Odds-ratio preference optimisation (TRL `ORPOTrainer`): SFT and preference in one loss, no reference model."""

    beta: float = Field(0.1, gt=0, description="weight of the odds-ratio term (lambda in the paper)")


class KTOOptions(_Strict):
    """Kahneman-Tversky optimisation (TRL `KTOTrainer`). Paired rows are split into one desirable and one
    undesirable example each."""

    beta: float = Field(0.1, gt=0)
    desirable_weight: float = Field(1.0, gt=0)
    undesirable_weight: float = Field(1.0, gt=0)


# --- reward functions for RL (GRPO / RLAIF) -----------------------------------------------------------------------

_METRIC_NAME = re.compile(r"^[A-Za-z0-9_.\- ]{1,64}$")


class _Reward(_Strict):
    name: str | None = Field(None, description="metric name (rewards/<name>/mean); default: the type or function name")
    weight: float = Field(1.0, description="weight in the summed reward")

    @field_validator("name")
    @classmethod
    def _metric_name(cls, v: str | None) -> str | None:
        if v is not None and not _METRIC_NAME.match(v):
            raise ValueError("use letters, digits, '_', '-', '.' or spaces (at most 64)")
        return v


class ExactMatchReward(_Reward):
    """1.0 when the completion equals the row's reference answer (after trimming; optionally ignoring case), else 0."""

    type: Literal["exact_match"]
    answer_column: str = "answer"
    ignore_case: bool = True


class NumericAnswerReward(_Reward):
    """1.0 when the completion's final number equals the reference's, else 0. GSM8K style: the number after
    `####` if present (in the completion and in the reference), else the last number; commas, currency signs and
    trailing units are ignored (`#### $1,234.50 dollars` reads as 1234.5)."""

    type: Literal["numeric_answer"]
    answer_column: str = "answer"
    tolerance: float = Field(1e-6, ge=0, description="relative tolerance")


class RegexReward(_Reward):
    """1.0 when the pattern is found in the completion (`mode: search`) or matches all of it (`fullmatch`), else 0:
    format checks such as `^<think>.*</think>` or `####\\s*-?[\\d,.]+\\s*$`."""

    type: Literal["regex"]
    pattern: str = Field(..., min_length=1)
    mode: Literal["search", "fullmatch"] = "search"
    dotall: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return v


class LengthPenaltyReward(_Reward):
    """0 up to `target` words (or characters), then falls linearly to -1 at twice the target (and stays there)."""

    type: Literal["length_penalty"]
    target: int = Field(..., gt=0)
    unit: Literal["words", "chars"] = "words"


class PythonReward(_Reward):
    """A function `def f(completions, **row) -> list[float]` shipped as source code. Give the function object itself
    (`rewards=[my_reward]`): its source and what it uses from the notebook are captured at submission."""

    type: Literal["python"]
    function: str = Field(..., min_length=1, description="name of the function defined in `source`")
    source: str = Field(..., min_length=1, description="Python source that defines `function`")

    @model_validator(mode="after")
    def _defines_function(self) -> PythonReward:
        import ast

        try:
            tree = ast.parse(self.source, filename=f"<reward {self.function}>")
        except SyntaxError as exc:
            raise FieldError("source", f"does not parse: line {exc.lineno}: {exc.msg}") from None
        names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if self.function not in names:
            raise FieldError("source", f"defines no top-level function {self.function!r}")
        return self


RewardSpec = Annotated[
    Union[ExactMatchReward, NumericAnswerReward, RegexReward, LengthPenaltyReward, PythonReward],
    Field(discriminator="type"),
]
BUILTIN_REWARDS = ("exact_match", "numeric_answer", "regex", "length_penalty")


def reward_entry(v: Any) -> Any:
    """Accept a function object (shipped as source), a built-in's name, or a mapping; return what the spec stores."""
    if isinstance(v, str) and v in BUILTIN_REWARDS:
        return {"type": v}
    if callable(v) and not isinstance(v, (type, BaseModel)):
        from .reward_code import describe

        return describe(v)
    return v


def _reward_entries(v: Any) -> Any:
    if v is None:
        return []
    if not isinstance(v, (list, tuple)):
        v = [v]
    return [reward_entry(x) for x in v]


class GRPOOptions(_Strict):
    """Group relative policy optimisation (TRL `GRPOTrainer`) with verifiable rewards: for each prompt the model
    samples `num_generations` completions; each is scored by the reward functions (weighted sum) and the policy
    moves toward the better ones in its group."""

    rewards: list[RewardSpec] = Field(default_factory=list, description="reward functions, summed with their weights")
    num_generations: int = Field(4, ge=2, le=512, description="completions sampled per prompt")
    max_completion_length: int = Field(256, gt=0, le=131072)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    beta: float = Field(0.04, ge=0, description="KL penalty toward the reference (adapter off); 0 skips the reference "
                                                 "pass and the kl metric")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo", "cispo", "sapo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    num_iterations: int = Field(1, ge=1, description="optimisation passes over each generated batch")
    mask_truncated_completions: bool = False

    _entries = field_validator("rewards", mode="before")(_reward_entries)

    @model_validator(mode="after")
    def _unique_names(self) -> GRPOOptions:
        seen: set[str] = set()
        for i, r in enumerate(self.rewards):
            name = reward_name(r)
            if name in seen:
                raise FieldError(f"rewards.{i}", f"two rewards are named {name!r}; give one a `name`")
            seen.add(name)
        return self


def reward_name(r: BaseModel) -> str:
    """The name a reward's metrics are logged under (`rewards/<name>/mean`)."""
    return r.name or (r.function if isinstance(r, PythonReward) else r.type)


# --- RLAIF: a judge model gives the reward -------------------------------------------------------------------------

DEFAULT_RUBRIC = ("Rate how human, warm and natural the response sounds, as a friend would say it, on a scale "
                  "from {min} (stiff, formal, robotic) to {max} (warm, casual, human).")


class JudgeSpec(_Strict):
    """Who scores completions for RLAIF: any OpenAI-compatible chat endpoint (`kind: openai`: a hosted API, vLLM,
    Ollama, jupyter_ft's own endpoint) or a local HF model (`kind: local`: the probability-weighted score it gives
    under the rubric). Scores are normalised to 0..1."""

    kind: Literal["openai", "local"] = "openai"
    model: str = Field(..., min_length=1, description="model name at the endpoint, or local folder / hub id")
    base_url: str | None = Field(None, description="endpoint root, e.g. http://localhost:8000/v1 (kind: openai)")
    api_key_env: str | None = Field(None, description="environment variable holding the API key (never the key itself)")
    rubric: str = Field(DEFAULT_RUBRIC, min_length=1, description="what to score; {min}/{max} name the scale ends")
    min_score: int = 1
    max_score: int = 10
    timeout_s: float = Field(30.0, gt=0, le=3600, description="per request")
    max_retries: int = Field(2, ge=0, le=10, description="retries after a failed, timed-out or unparseable answer")
    concurrency: int = Field(8, ge=1, le=256, description="requests in flight at once")
    max_tokens: int = Field(64, gt=0, description="answer length limit (kind: openai)")
    temperature: float = Field(0.0, ge=0)
    weight: float = Field(1.0, description="weight of the judge's reward in the sum")
    name: str = Field("judge", description="metric name (rewards/<name>/mean)")

    @model_validator(mode="after")
    def _consistent(self) -> JudgeSpec:
        if self.max_score <= self.min_score:
            raise FieldError("max_score", "must be greater than min_score")
        if self.kind == "openai" and not self.base_url:
            raise FieldError("base_url", "is required for kind 'openai' (e.g. http://localhost:8000/v1)")
        if self.kind == "openai" and not self.base_url.startswith(("http://", "https://")):
            raise FieldError("base_url", "must start with http:// or https://")
        if not _METRIC_NAME.match(self.name):
            raise FieldError("name", "use letters, digits, '_', '-', '.' or spaces")
        return self


class RLAIFOptions(GRPOOptions):
    """GRPO where a judge model gives the reward (plus any verifiable rewards listed in `rewards`)."""

    judge: JudgeSpec

    @model_validator(mode="after")
    def _judge_name_free(self) -> RLAIFOptions:
        if any(reward_name(r) == self.judge.name for r in self.rewards):
            raise FieldError("judge.name", f"a reward is also named {self.judge.name!r}; rename one")
        return self


class OnlineDPOOptions(_Strict):
    """Online DPO (TRL `OnlineDPOTrainer`, in `trl.experimental`): for each prompt the model writes two answers; the
    judge and/or the rewards pick the better one, and the pair trains the model like DPO. Preference pairs made on
    line, from the model's own answers, instead of a fixed dataset."""

    rewards: list[RewardSpec] = Field(default_factory=list, description="verifiable rewards (summed with the judge's)")
    judge: JudgeSpec | None = Field(None, description="a judge whose score ranks the two answers")
    max_new_tokens: int = Field(64, gt=0, le=131072)
    temperature: float = Field(0.9, gt=0)
    beta: float = Field(0.1, gt=0)
    loss_type: Literal["sigmoid", "ipo"] = "sigmoid"

    _entries = field_validator("rewards", mode="before")(_reward_entries)

    @model_validator(mode="after")
    def _something_ranks(self) -> OnlineDPOOptions:
        if not self.rewards and self.judge is None:
            raise FieldError("judge", "online_dpo needs a judge or at least one reward to rank the two answers")
        if self.judge is not None and any(reward_name(r) == self.judge.name for r in self.rewards):
            raise FieldError("judge.name", f"a reward is also named {self.judge.name!r}; rename one")
        return self


TECHNIQUE_OPTIONS: dict[str, type[_Strict]] = {
    "sft": SFTOptions, "dpo": DPOOptions, "orpo": ORPOOptions, "kto": KTOOptions, "grpo": GRPOOptions,
    "rlaif": RLAIFOptions, "online_dpo": OnlineDPOOptions,
}


class TrainSpec(_Strict):
    """A training job: technique, model, data, hyperparameters, adapter, output and tracking."""

    kind: Literal["train"] = "train"
    name: str | None = Field(None, max_length=MAX_LABEL, description="a label for people; the job id stays unique")
    technique: Technique = "sft"
    model: str = Field(..., min_length=1, max_length=MAX_PATH, description="local model folder or hub id")
    dataset: str = Field(..., min_length=1, max_length=MAX_PATH,
                         description="catalog name[@version], local file (jsonl/json/csv/parquet) or hub id")
    dataset_split: str = Field("train", min_length=1, max_length=MAX_LABEL)
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
    attention: Literal["sdpa", "eager", "flash_attention_2", "flash_attention_3"] | None = Field(
        None, description="attention implementation; auto: flash-attention on CUDA when installed, else sdpa")
    liger_kernel: bool | None = Field(None, description="Liger's fused Triton kernels (RMSNorm, RoPE, SwiGLU); auto: "
                                                        "on CUDA when liger-kernel is installed")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    seed: int = Field(42, ge=0, le=MAX_SEED, description="random seed (0 to 2**32 - 1)")
    logging_steps: int = Field(5, gt=0)
    checkpoint_every: int | None = Field(None, gt=0, description="save a resumable checkpoint every N steps")
    checkpoint_minutes: float = Field(
        5.0, gt=0, description="without checkpoint_every: save every N minutes, stretched so saving stays under 5% of the time")
    max_attempts: int = Field(3, ge=1, le=20, description="retries after the job process dies")
    output_dir: str | None = Field(None, max_length=MAX_PATH, description="where the adapter/model is written; default in the job folder")

    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    compute: ComputeSpec | None = Field(None, description="processes/GPUs and strategy (`auto` for both); empty: one "
                                        "process. Several run under `accelerate launch` (see core.compute)")
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec, description="local (default) or ray, with the "
                                   "cluster's address")
    sft: SFTOptions | None = None
    dpo: DPOOptions | None = None
    orpo: ORPOOptions | None = None
    kto: KTOOptions | None = None
    grpo: GRPOOptions | None = None
    rlaif: RLAIFOptions | None = None
    online_dpo: OnlineDPOOptions | None = None

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
            if self.technique == "rlaif":
                raise FieldError("rlaif.judge", "technique 'rlaif' needs a judge, e.g. "
                                 "rlaif: {judge: {base_url: http://localhost:8000/v1, model: judge-model}}")
            if self.technique == "online_dpo":
                raise FieldError("online_dpo.judge", "technique 'online_dpo' needs a judge or rewards to rank its two "
                                 "answers, e.g. online_dpo: {judge: {base_url: http://localhost:8000/v1, model: m}}")
            object.__setattr__(self, self.technique, TECHNIQUE_OPTIONS[self.technique]())
        if self.technique == "grpo" and not self.grpo.rewards:
            raise FieldError("grpo.rewards", "technique 'grpo' needs at least one reward, e.g. "
                             "rewards: [numeric_answer] or rewards=[my_reward_function]")
        if self.technique in ("grpo", "rlaif") and self.batch_size and self.grad_accum:
            g = self.options.num_generations
            if (self.batch_size * self.grad_accum) % g:
                raise FieldError("batch_size", f"batch_size × grad_accum ({self.batch_size} × {self.grad_accum}) must be a multiple "
                                 f"of {self.technique}.num_generations ({g}): each prompt's completions form one group")
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
