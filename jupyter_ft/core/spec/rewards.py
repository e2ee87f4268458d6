"""Reward functions and judges as spec blocks: what GRPO, RLAIF and online DPO options (and evaluations) list.

Shared by several technique units and by evaluation, so it lives beside the spec base rather than in one unit.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, field_validator, model_validator

from jupyter_ft.core.spec.base import FieldError, Strict as _Strict, check_defines_function

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
        check_defines_function(self.source, self.function, "reward")
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
        from jupyter_ft.core.spec.reward_code import describe

        return describe(v)
    return v


def reward_entries(v: Any) -> Any:
    """A `rewards` value as a list of spec entries (a single entry, function or built-in name is a list of one)."""
    if v is None:
        return []
    if not isinstance(v, (list, tuple)):
        v = [v]
    return [reward_entry(x) for x in v]


def check_reward_names(rewards: list[BaseModel], judge: BaseModel | None = None) -> None:
    """Every reward (and the judge) logs under its own name: two with one name would mix their metrics."""
    seen: set[str] = set()
    for i, r in enumerate(rewards):
        name = reward_name(r)
        if name in seen:
            raise FieldError(f"rewards.{i}", f"two rewards are named {name!r}; give one a `name`")
        seen.add(name)
    if judge is not None and judge.name in seen:
        raise FieldError("judge.name", f"a reward is also named {judge.name!r}; rename one")


def reward_name(r: BaseModel) -> str:
    """The name a reward's metrics are logged under (`rewards/<name>/mean`)."""
    return r.name or (r.function if isinstance(r, PythonReward) else r.type)


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


