"""The technique registry: every training technique is one declaration here, discovered, plus its trainer.

A declaration is a module that defines `TECHNIQUE = Technique(...)`: its options block (a pydantic model, shown in
every form and in the JSON schema under the technique's name, e.g. `dpo: {beta: 0.1}`), the kind of data it trains
on, its default learning rates, its submission checks, its auto-sized choices, and where its `build_trainer` is.
Declarations import without torch: core reads them at submission. The trainer itself runs in the job process:
built-ins keep it in `jupyter_ft.training.techniques.<name>` (named here as `"module:function"`, so core never
imports it); a technique shipped outside this package may give the function itself.

Where declarations come from:
- every public module of this package (`jupyter_ft/core/train/techniques/<name>.py`): adding a built-in technique
  is adding that file, its trainer `jupyter_ft/training/techniques/<name>.py` and its test, nothing else;
- the `jupyter_ft.techniques` entry-point group of any installed distribution (`name = "pkg.module"` or
  `"pkg.module:TECHNIQUE"`), for techniques shipped outside this package. A job process finds them the same way,
  so a third-party technique trains like a built-in one.

Units are read once per process (the spec schema is built from them at import).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import warnings
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Callable

from pydantic import BaseModel

ENTRY_POINT_GROUP = "jupyter_ft.techniques"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
TRAINER_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
DATA_KINDS = ("sft", "preference", "prompt")  # the shapes of data the catalog checks and converts to


@dataclass(frozen=True)
class Technique:
    """One training technique, declared where it is implemented.

    name: the spec's `technique` value and its options block's field name.
    options: the options block's model (every field needs a default unless `needs` says what to give).
    data: the kind of data it trains on: `sft` (messages, prompt/completion or text), `preference` (chosen/rejected
        pairs) or `prompt` (prompts, other columns passed to rewards).
    learning_rate: the default (LoRA, full fine-tuning) learning rates when a spec leaves it empty.
    short_run_lr: the LoRA learning rate of a short run (under `budget.SHORT_RUN` steps, e.g. a laptop's time
        budget), where the long-run default moves the adapter too little to show; None: the default.
    build_trainer: `build_trainer(ctx: training.context.TrainContext) -> transformers.Trainer`, run in the job: the
        function, or where it is as `"package.module:function"` (imported only in the job process).
    check: `check(spec)` at submission, after the options block is filled (auto fields such as `max_length` are still
        None then: auto-sizing comes later); raises `spec_base.FieldError` naming the
        field (relative to the spec, e.g. `grpo.rewards`).
    needs: `(field, message)` when the options block cannot be left out (it has a required field): the error shown
        for a spec without it, e.g. `("judge", "technique 'rlaif' needs a judge, e.g. ...")`.
    auto: `auto(spec, device, upd, why)` at submission, after the common sizing: fills the technique's own auto
        choices into `upd` (field -> value, e.g. its options block) and their reasons into `why`.
    summary: one line for listings; default: the first sentence of the options model's docstring.
    order: where it is listed (forms, messages, `jupyter-ft techniques`): lower first; built-ins are grouped by
        family (SFT 0, preference 10s, RL 20s), others default to 100.
    """

    name: str
    options: type[BaseModel]
    data: str
    learning_rate: tuple[float, float]
    build_trainer: Callable[[Any], Any] | str
    check: Callable[[Any], None] | None = None
    needs: tuple[str, str] | None = None
    auto: Callable[[Any, Any, dict, dict], None] | None = None
    summary: str = ""
    order: float = 100
    short_run_lr: float | None = None

    def __post_init__(self) -> None:
        if not NAME.match(self.name):
            raise ValueError(f"technique name {self.name!r}: use lowercase letters, digits and '_' (at most 32)")
        if not (isinstance(self.options, type) and issubclass(self.options, BaseModel)):
            raise ValueError(f"technique {self.name!r}: options must be a pydantic model class")
        if self.data not in DATA_KINDS:
            raise ValueError(f"technique {self.name!r}: data must be one of {', '.join(DATA_KINDS)}, got {self.data!r}")
        lr = self.learning_rate
        if len(lr) != 2 or not all(isinstance(x, float) and 0 < x < 1 for x in lr):
            raise ValueError(f"technique {self.name!r}: learning_rate must be (LoRA, full) floats in (0, 1), got {lr!r}")
        if not (callable(self.build_trainer) or TRAINER_REF.match(str(self.build_trainer))):
            raise ValueError(f"technique {self.name!r}: build_trainer must be a function or 'package.module:function'")
        if not self.summary:
            doc = " ".join((self.options.__doc__ or "").split())
            first = re.split(r"(?<=\.) |: ", doc, maxsplit=1)[0]
            object.__setattr__(self, "summary", first or self.name)

    def default_options(self) -> BaseModel:
        return self.options()


_registry: dict[str, Technique] | None = None
_origins: dict[str, str] = {}  # name -> where the unit came from (module, or entry point and distribution)
problems: list[str] = []  # units that could not be registered, and why (also warned once)


def _unit_of(obj: Any, origin: str) -> Technique:
    unit = getattr(obj, "TECHNIQUE", None) if isinstance(obj, ModuleType) else obj
    if not isinstance(unit, Technique):
        raise TypeError(f"{origin} defines no `TECHNIQUE = Technique(...)`")
    return unit


def _builtin() -> list[tuple[str, Technique]]:
    out = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue  # private helpers shared by units
        module = importlib.import_module(f"{__name__}.{info.name}")
        out.append((f"built-in ({module.__name__})", _unit_of(module, f"module {module.__name__}")))
    return out


def _plugins() -> list[tuple[str, Technique]]:
    out = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None)
        origin = f"entry point {ep.name!r} ({ep.value}" + (f", from {dist})" if dist else ")")
        try:
            out.append((origin, _unit_of(ep.load(), origin)))
        except Exception as exc:  # a broken plugin must not break every face; it is reported, not skipped silently
            _problem(f"{origin}: {type(exc).__name__}: {exc}")
    return out


def _problem(text: str) -> None:
    problems.append(text)
    warnings.warn(f"jupyter_ft technique not registered: {text}", RuntimeWarning, stacklevel=3)


def registry() -> dict[str, Technique]:
    """Every registered technique by name, in listing order (built-ins win a name clash with a plugin)."""
    global _registry
    if _registry is None:
        found: dict[str, Technique] = {}
        for origin, unit in [*_builtin(), *_plugins()]:
            if unit.name in found:
                _problem(f"{origin}: technique {unit.name!r} is already registered")
                continue
            found[unit.name] = unit
            _origins[unit.name] = origin
        _registry = dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))
    return _registry


def reject(name: str, why: str) -> None:
    """Take a registered unit back out (the spec schema could not give it a field), saying why."""
    if _registry is not None and _registry.pop(name, None) is not None:
        _problem(f"technique {name!r}: {why}")


def names() -> tuple[str, ...]:
    return tuple(registry())


def find(name: str) -> Technique | None:
    return registry().get(name)


def describe() -> list[dict[str, Any]]:
    """What a listing shows of each technique (the CLI's `jupyter-ft techniques`), with its options' JSON schema."""
    return [{"name": name, "data": unit.data, "learning_rate": {"lora": unit.learning_rate[0],
                                                                "full": unit.learning_rate[1]},
             "summary": unit.summary, "origin": _origins.get(name, ""), "options": unit.options.model_json_schema()}
            for name, unit in registry().items()]


def get(name: str) -> Technique:
    """The unit named `name`; KeyError naming the registered ones otherwise."""
    unit = find(name)
    if unit is None:
        raise KeyError(f"unknown technique {name!r}; expected one of {', '.join(names())}")
    return unit
