"""What every spec model is built on: the strict base class, limits, and the error that blames one field.

Kept apart from `specs` so that technique units (`jupyter_ft.core.train.techniques`) can build their options blocks on it
while `specs` builds `TrainSpec` from those units, without an import cycle.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


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


class Strict(BaseModel):
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


def check_defines_function(source: str, function: str, what: str) -> None:
    """Refuse (on `source`) Python source that does not parse or defines no top-level `function`: the check every
    shipped function (reward, evaluator) gets at submission, before a job imports it."""
    import ast

    try:
        tree = ast.parse(source, filename=f"<{what} {function}>")
    except SyntaxError as exc:
        raise FieldError("source", f"does not parse: line {exc.lineno}: {exc.msg}") from None
    names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if function not in names:
        raise FieldError("source", f"defines no top-level function {function!r}")


def normalise_device(v: str) -> str:
    """`auto`, `cpu`, `cuda`, `cuda:N` or `mps`, lower-cased; anything else is refused."""
    v = v.strip().lower()
    if v in ("auto", "cpu", "cuda", "mps") or (v.startswith("cuda:") and v[5:].isdigit()):
        return v
    raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
