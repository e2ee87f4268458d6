"""The one schema of an evaluation job (`kind: eval`).

Every face (`ft.evaluate(...)`, the `%%ft_eval` YAML cell, the eval form widget, `POST /jupyter-ft/api/evaluations`)
builds an `EvalSpec`; it is validated here, stored verbatim with the job and logged to MLflow like a `TrainSpec`.
An evaluation scores several models (`models`) on one catalog dataset with a list of evaluators, each a
discriminated union member on `type`. Generation-based evaluators share one set of answers per model (cached per
model, sample and `generation` settings), so adding an evaluator later does not regenerate.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from jupyter_ft.core.spec.base import check_defines_function, normalise_device
from jupyter_ft.core.spec.train import (MAX_LABEL, MAX_PATH, MAX_SEED, FieldError, JudgeSpec, RewardSpec, SpecError, TrackingSpec, _field_errors, _Strict, reward_entry, reward_name)

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
EVALUATOR_TYPES = ("multiple_choice", "lm_eval", "eval_loss", "exact_match", "numeric_answer", "rouge", "reward",
                   "python", "style", "pairwise_judge", "rubric_judge")
# evaluators that score generated answers (they share the answer cache); the others score log-likelihoods
GENERATIVE = ("exact_match", "numeric_answer", "rouge", "reward", "python", "style", "pairwise_judge", "rubric_judge")
# the name the degeneration metrics of every evaluation of generated answers go under (no evaluator may take it)
DEGENERATION = "degeneration"


class _Evaluator(_Strict):
    name: str | None = Field(None, description="the evaluator's name in results and MLflow (<model>/<name>/<metric>); "
                                               "default: its type (or the function's name)")

    @field_validator("name")
    @classmethod
    def _metric_name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError("use letters, digits, '_', '-' or '.' (at most 64)")
        return v


class MultipleChoiceEval(_Evaluator):
    """Multiple choice by log-likelihood, as lm-evaluation-harness scores it: for each choice the sum of its tokens'
    log-probabilities given the question (the choice preceded by a space); `acc` = argmax of the sums, `acc_norm` =
    argmax of sum / len(choice in characters). Rows: `question`, `choices` (list), `answer` (index or letter), or
    the MMLU CSV shape `question,A,B,C,D,answer`; an optional `subject` column gives a per-subject breakdown."""

    type: Literal["multiple_choice"]
    num_fewshot: int = Field(0, ge=0, le=64, description="examples put before each question (k-shot)")
    fewshot_split: Literal["train", "eval", "all"] = Field(
        "train", description="the dev split the shots are drawn from (seeded); never the question itself")
    chat_template: bool = Field(False, description="wrap the question in the tokenizer's chat template (recorded)")
    subject_column: str | None = Field("subject", max_length=MAX_LABEL, description="column for the per-subject "
                                                                                  "breakdown (ignored when absent)")
    mapping: dict[str, str] | None = Field(None, description="{question|choices|answer|subject: column} when the "
                                                             "columns have other names")
    description: str | None = Field(None, description="text put before the shots, e.g. 'The following are ...'")
    batch_size: int = Field(16, ge=1, le=4096, description="(context, choice) pairs per forward pass")

    @field_validator("mapping")
    @classmethod
    def _mapping_fields(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v:
            bad = [k for k in v if k not in ("question", "choices", "answer", "subject")]
            if bad:
                raise ValueError(f"unknown field {bad[0]!r}; map question, choices, answer or subject to a column")
        return v


class LmEvalEval(_Evaluator):
    """Any lm-evaluation-harness task, by name or local YAML path (needs the `lm-eval` extra)."""

    type: Literal["lm_eval"]
    task: str = Field(..., min_length=1, max_length=MAX_PATH, description="task name or path to a task YAML")
    num_fewshot: int | None = Field(None, ge=0, le=64)
    limit: int | None = Field(None, gt=0, description="documents per task")
    batch_size: int = Field(16, ge=1, le=4096)


class EvalLossEval(_Evaluator):
    """Loss and perplexity of the reference answer (the completion tokens only) given the prompt."""

    type: Literal["eval_loss"]
    max_length: int = Field(1024, gt=0, le=1_048_576, description="tokens per sequence (longer rows are truncated)")
    batch_size: int = Field(8, ge=1, le=4096)


class ExactMatchEval(_Evaluator):
    """1 when the answer equals the reference (whitespace collapsed, trailing '.'/'!' dropped, case ignored)."""

    type: Literal["exact_match"]
    answer_column: str | None = Field(None, description="the reference column; default: the dataset's answer")
    ignore_case: bool = True


class NumericAnswerEval(_Evaluator):
    """1 when the answer's final number equals the reference's (GSM8K style, as the `numeric_answer` reward)."""

    type: Literal["numeric_answer"]
    answer_column: str | None = None
    tolerance: float = Field(1e-6, ge=0, description="relative tolerance")


class RougeEval(_Evaluator):
    """ROUGE F-measure against the reference through the `rouge-score` package (rougeL by default)."""

    type: Literal["rouge"]
    rouge_types: list[Literal["rouge1", "rouge2", "rougeL", "rougeLsum"]] = Field(["rougeL"], min_length=1)
    use_stemmer: bool = True


class RewardEval(_Evaluator):
    """Any reward function of `core/spec/train.py` (built-in or a notebook function) scoring each answer: every reward is
    an evaluator, with the reward signature `f(completions, **row) -> list[float]`."""

    type: Literal["reward"]
    reward: RewardSpec

    @field_validator("reward", mode="before")
    @classmethod
    def _entry(cls, v: Any) -> Any:
        return reward_entry(v)


class PythonEval(_Evaluator):
    """A custom evaluator `def f(prediction, reference, row) -> float | dict[str, float]` shipped as source code
    (give the function object: `evaluators=[my_eval]`). A dict gives several metrics, one per key."""

    type: Literal["python"]
    function: str = Field(..., min_length=1, description="name of the function defined in `source`")
    source: str = Field(..., min_length=1, description="Python source that defines `function`")

    @model_validator(mode="after")
    def _defines_function(self) -> PythonEval:
        check_defines_function(self.source, self.function, "evaluator")
        return self


class StyleEval(_Evaluator):
    """Style markers of each answer, counted without a model (`core/evaluate/style.py`): exclamation marks,
    contractions and second-person words per 100 words, formal connectives, mean sentence length, length in words.
    Beside a baseline model it adds a verdict on whether the answers became more human-like (`style_verdicts`)."""

    type: Literal["style"]


class PairwiseJudgeEval(_Evaluator):
    """A judge compares each model's answer with the baseline's on the same prompt, in both orders; when the two
    orders disagree the verdict is a tie. Reports win/tie/loss with bootstrap intervals, the position-consistency
    rate and mean answer lengths."""

    type: Literal["pairwise_judge"]
    judge: JudgeSpec
    baseline: str = Field("base", min_length=1, max_length=MAX_PATH, description="the model every other is compared "
                                                                               "with (one of `models`)")
    prompt: str | None = Field(None, description="judge instructions; default: a FastChat-style pairwise prompt")
    human_label_column: str | None = Field(None, description="column holding the human-preferred answer "
                                                             "('A'/'B' or the preferred text) for agreement")


class RubricCriterion(_Strict):
    name: str = Field(..., min_length=1, max_length=64)
    description: str = Field("", description="what the judge should look for")


class RubricJudgeEval(_Evaluator):
    """A judge scores each answer on named criteria (e.g. relevance, accuracy, human-likeness) on a scale, with its
    reason kept per sample."""

    type: Literal["rubric_judge"]
    judge: JudgeSpec
    criteria: list[RubricCriterion] = Field(..., min_length=1)
    min_score: int = 1
    max_score: int = 10
    human_score_column: str | None = Field(None, description="column holding a human score for agreement")

    @field_validator("criteria", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return [{"name": c} if isinstance(c, str) else c for c in v]
        return v

    @model_validator(mode="after")
    def _scale(self) -> RubricJudgeEval:
        if self.max_score <= self.min_score:
            raise FieldError("max_score", "must be greater than min_score")
        names = [c.name for c in self.criteria]
        if len(set(names)) != len(names):
            raise FieldError("criteria", "two criteria have the same name")
        return self


EvaluatorSpec = Annotated[
    Union[MultipleChoiceEval, LmEvalEval, EvalLossEval, ExactMatchEval, NumericAnswerEval, RougeEval, RewardEval,
          PythonEval, StyleEval, PairwiseJudgeEval, RubricJudgeEval],
    Field(discriminator="type"),
]


class GenerationSpec(_Strict):
    """How answers are generated for the generation-based evaluators. Greedy by default (temperature 0), so a rerun
    gives the same answers; answers are cached per (model, sample, these settings)."""

    max_new_tokens: int = Field(64, gt=0, le=131072)
    temperature: float = Field(0.0, ge=0, le=10, description="0 = greedy")
    top_p: float = Field(1.0, gt=0, le=1)
    batch_size: int = Field(8, ge=1, le=4096, description="prompts per generate call (left-padded)")
    chat_template: bool | None = Field(None, description="format prompts with the tokenizer's chat template; auto: "
                                                         "on when the tokenizer has one (recorded in `auto`)")


def evaluator_entry(v: Any) -> Any:
    """Accept a function object (a `python` evaluator shipped as source), a type name, or a mapping."""
    if isinstance(v, str):
        if v not in EVALUATOR_TYPES:
            raise ValueError(f"unknown evaluator {v!r}; expected one of {', '.join(EVALUATOR_TYPES)} or a function")
        return {"type": v}
    if callable(v) and not isinstance(v, (type, BaseModel)):
        from jupyter_ft.core.spec.reward_code import describe

        entry = describe(v)
        return {"type": "python", "function": entry["function"], "source": entry["source"]}
    return v


def evaluator_name(e: BaseModel) -> str:
    """The name an evaluator's results go under."""
    if e.name:
        return e.name
    if isinstance(e, PythonEval):
        return e.function
    if isinstance(e, RewardEval):
        return reward_name(e.reward)
    return e.type


def _endpoint_ok(entry: str) -> bool:
    url, sep, model = entry.partition("#")
    return bool(sep and model.strip() and re.match(r"^https?://[^/\s]+", url))


class EvalSpec(_Strict):
    """An evaluation job: which models, on which data, scored by which evaluators."""

    kind: Literal["eval"] = "eval"
    name: str | None = Field(None, max_length=MAX_LABEL, description="a label for people; the job id stays unique")
    models: list[Annotated[str, Field(min_length=1, max_length=MAX_PATH)]] = Field(
        ..., min_length=1, max_length=64,
        description="each 'base', a job id, an adapter or model folder, a hub id, or http://host:port/v1#model")
    base: str | None = Field(None, max_length=MAX_PATH, description="the base model for 'base' and for adapters; "
                                                                    "default: the one the adapters name")
    baseline: str | None = Field(None, max_length=MAX_PATH,
                                 description="the model the others are compared with (each metric's difference with "
                                             "a paired 95% interval); default: 'base' when listed, else the first")
    dataset: str = Field(..., min_length=1, max_length=MAX_PATH,
                         description="catalog name[@version], local file (jsonl/json/csv/parquet) or hub id")
    split: Literal["eval", "train", "all"] = Field("eval", description="which split of the catalog version is scored")
    limit: int | None = Field(None, gt=0, description="score only the first N rows of the split")
    evaluators: list[EvaluatorSpec] = Field(..., min_length=1)
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    seed: int = Field(42, ge=0, le=MAX_SEED, description="shots, sampling and bootstrap draws")
    bootstrap: int = Field(1000, ge=0, le=100_000, description="bootstrap resamples for 95% intervals (0 = none)")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N or mps")
    max_attempts: int = Field(3, ge=1, le=20, description="retries after the job process dies (a retry resumes)")
    tracking: TrackingSpec = Field(default_factory=lambda: TrackingSpec(experiment="jupyter_ft-eval"))
    auto: dict[str, str] = Field(default_factory=dict, description="values filled in at submission and why")

    @field_validator("evaluators", mode="before")
    @classmethod
    def _entries(cls, v: Any) -> Any:
        if v is None:
            return []
        if not isinstance(v, (list, tuple)):
            v = [v]
        return [evaluator_entry(x) for x in v]

    @field_validator("models", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        return normalise_device(v)

    @model_validator(mode="after")
    def _consistent(self) -> EvalSpec:
        seen: set[str] = set()
        for i, m in enumerate(self.models):
            if m in seen:
                raise FieldError(f"models.{i}", f"{m!r} is listed twice")
            seen.add(m)
            if m.startswith(("http://", "https://")) and not _endpoint_ok(m):
                raise FieldError(f"models.{i}", f"{m!r}: an endpoint is named http://host:port/v1#model-name")
        names: set[str] = set()
        for i, e in enumerate(self.evaluators):
            n = evaluator_name(e)
            if n in names:
                raise FieldError(f"evaluators.{i}", f"two evaluators are named {n!r}; give one a `name`")
            if n == DEGENERATION:
                raise FieldError(f"evaluators.{i}.name", f"{DEGENERATION!r} is where every evaluation of generated "
                                                         "answers reports repetition and loops; choose another name")
            names.add(n)
            if isinstance(e, PairwiseJudgeEval):
                if e.baseline not in self.models:
                    raise FieldError(f"evaluators.{i}.baseline", f"{e.baseline!r} is not one of models {self.models}")
                if len(self.models) < 2:
                    raise FieldError(f"evaluators.{i}", "a pairwise judge needs at least two models")
        if self.baseline is not None and self.baseline not in self.models:
            raise FieldError("baseline", f"{self.baseline!r} is not one of models {self.models}")
        return self

    @property
    def baseline_entry(self) -> str:
        """The model entry the others are compared with: `baseline`, else 'base' when listed, else the first."""
        if self.baseline is not None:
            return self.baseline
        return "base" if "base" in self.models else self.models[0]

    @property
    def generative(self) -> bool:
        """True when some evaluator scores generated answers."""
        return any(e.type in GENERATIVE for e in self.evaluators)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def parse_eval_spec(data: dict[str, Any] | str | Path | EvalSpec) -> EvalSpec:
    """Build an `EvalSpec` from a dict, a YAML/JSON string, or a path to a YAML/JSON file. Raises `SpecError` naming
    every bad field (`evaluators.0.num_fewshot: Input should be greater than or equal to 0`)."""
    if isinstance(data, EvalSpec):
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
    data = {k: v for k, v in data.items() if not (k == "kind" and v == "eval")}
    try:
        return EvalSpec.model_validate(data)
    except ValidationError as exc:
        errors = _field_errors(exc)
        for j, (loc, msg) in enumerate(errors):
            loc = re.sub(r"^(evaluators\.\d+)\.(" + "|".join(EVALUATOR_TYPES) + r")\b", r"\1", loc)
            errors[j] = (loc, msg)
            if ("union_tag_invalid" in msg or "does not match any of the expected tags" in msg) and "evaluators" in loc:
                errors[j] = (loc, f"unknown evaluator type; expected one of {', '.join(EVALUATOR_TYPES)}")
        raise SpecError(errors) from None
