"""The job spec as a list of form fields, and form values back to a spec: what a form face needs from `TrainSpec`.

A form is generated from the pydantic schema, never written by hand, so a field added to `TrainSpec`, or a
technique registered as a unit (`jupyter_ft.core.train.techniques`: its options block becomes a `TrainSpec` field and an entry
of `specs.TECHNIQUE_OPTIONS`), shows up in every form without touching it. A form holds raw values (text as typed, booleans, choices) keyed by dotted path (`lora.r`); `to_spec`
turns them into the spec dict a user would have written, leaving out what is still at its default or left for
auto-sizing, so the stored `submitted` spec records only what the user chose.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import yaml
from pydantic import BaseModel

from jupyter_ft.core.spec.layout import HIDDEN, groups, layout_of, main_fields
from jupyter_ft.core.spec.train import TECHNIQUE_OPTIONS, SpecError, TrainSpec, reward_entry


Kind = Literal["choice", "bool", "tristate", "int", "float", "text", "list", "yaml", "section"]


@dataclass(frozen=True)
class FieldSpec:
    """One form field. `optional`: empty means None (auto-sized or unset); for a section, it can be switched off."""

    path: str
    kind: Kind
    description: str = ""
    default: Any = None
    optional: bool = False
    choices: tuple[Any, ...] = ()
    group: str = "advanced"          # main | advanced | technique
    technique: str | None = None     # for a technique options block: the technique it belongs to
    children: tuple[FieldSpec, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


def _union_args(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp) if typing.get_origin(tp) in (Union, types.UnionType) else (tp,)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _unannotated(tp: Any) -> Any:
    """`Annotated[str, Field(...)]` -> `str` (a list of constrained strings is still a list of strings)."""
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def _classify(tp: Any) -> tuple[Kind, bool, tuple[Any, ...], Any]:
    """(kind, optional, choices, model class for sections) of an annotation."""
    args = _union_args(tp)
    optional = type(None) in args
    rest = [a for a in args if a is not type(None)]
    literals = tuple(v for a in rest if typing.get_origin(a) is Literal for v in typing.get_args(a))
    others = [a for a in rest if typing.get_origin(a) is not Literal]
    if not others and literals:
        return "choice", optional, literals, None
    if len(others) == 1:
        t = others[0]
        if _is_model(t) and not literals:
            return "section", optional, (), t
        if t is bool and not literals:
            return ("tristate" if optional else "bool"), optional, (), None
        if t is int and not literals:
            return "int", optional, (), None
        if t is float and not literals:
            return "float", optional, (), None
        if t is str and not literals:
            return "text", optional, (), None
        if typing.get_origin(t) is list and tuple(_unannotated(a) for a in typing.get_args(t)) in ((str,), ()):
            return "list", optional, literals, None
    return "yaml", optional, literals, None


def _plain(v: Any) -> Any:
    return v.model_dump(mode="json") if isinstance(v, BaseModel) else v


def _fields_of(model: type[BaseModel], prefix: str, options: dict[str, type[BaseModel]], top: bool,
               main: tuple[str, ...], defaults: dict[str, Any] | None = None) -> list[FieldSpec]:
    """`defaults`: the enclosing field's default value, which wins over the section class's own defaults (e.g.
    `tracking` defaulting to `TrackingSpec(experiment="jupyter_ft-eval")`)."""
    out: list[FieldSpec] = []
    for name, info in model.model_fields.items():
        if top and name in HIDDEN:
            continue
        path = f"{prefix}{name}"
        kind, optional, choices, sub = _classify(info.annotation)
        default = None if info.is_required() else _plain(info.get_default(call_default_factory=True))
        if defaults is not None and name in defaults:
            default = defaults[name]
        technique = name if top and name in options else None
        group = "technique" if technique else ("main" if top and name in main else "advanced")
        if technique:
            sub, kind = options[name], "section"
        children = tuple(_fields_of(sub, path + ".", options, False, main,
                                    default if isinstance(default, dict) else None)) if kind == "section" else ()
        out.append(FieldSpec(path=path, kind=kind, description=info.description or "", default=default,
                             optional=optional, choices=choices, group=group, technique=technique, children=children))
    return out


def form_fields(schema: type[BaseModel] = TrainSpec, options: dict[str, type[BaseModel]] | None = None
                ) -> list[FieldSpec]:
    """Top-level fields of the schema (sections hold their own fields) in the order of the spec's form layout
    (`core/spec/layout.py`, which the Studio's forms read too): the main group first, then the *Advanced* ones."""
    options = TECHNIQUE_OPTIONS if options is None else options
    layout = layout_of(schema)
    fields = _fields_of(schema, "", options, True, main_fields(layout))
    order = [f for g in groups([f.path for f in fields], layout, list(options)) for f in g["fields"]]
    return sorted(fields, key=lambda f: order.index(f.path))


def all_fields(fields: list[FieldSpec]) -> dict[str, FieldSpec]:
    """Every field and section by path."""
    return {f.path: f for top in fields for f in top.walk()}


# --- raw form values <-> spec ----------------------------------------------------------------------------------

class _FormDumper(yaml.SafeDumper):
    """YAML for a form field: multi-line text (a shipped reward's source, a rubric) as a literal block, so it reads
    and edits like the code it is."""


def _text(dumper: yaml.SafeDumper, s: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|" if "\n" in s else None)


_FormDumper.add_representer(str, _text)


def _shippable(value: Any, path: str) -> Any:
    """A spec value with every function object replaced by what the spec stores for it (`specs.reward_entry`: its
    shipped source): the only functions a spec takes are reward functions from notebook cells."""
    if callable(value) and not isinstance(value, (type, BaseModel)):
        from jupyter_ft.core.spec.reward_code import RewardCodeError

        try:
            return reward_entry(value)
        except RewardCodeError as exc:
            raise SpecError([(path, str(exc))]) from None
    if isinstance(value, dict):
        return {k: _shippable(v, path) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shippable(v, path) for v in value]
    return value


def _has_multiline_text(value: Any) -> bool:
    if isinstance(value, str):
        return "\n" in value
    if isinstance(value, dict):
        return any(_has_multiline_text(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_multiline_text(v) for v in value)
    return False


def _yaml_text(value: Any, path: str) -> str:
    plain = _shippable(value, path)
    multiline = _has_multiline_text(plain)  # a literal block is only possible outside flow style
    return yaml.dump(plain, Dumper=_FormDumper, default_flow_style=not multiline, sort_keys=False,
                     allow_unicode=True).strip()


def to_raw(f: FieldSpec, value: Any) -> Any:
    """A spec value as the form holds it: text for numbers/strings/lists/YAML, the value itself otherwise."""
    if f.kind in ("choice", "bool", "tristate"):
        return value
    if f.kind == "section":
        return value is not None
    if value is None:
        return ""
    if f.kind == "list":
        return value if isinstance(value, str) else ", ".join(str(v) for v in value)
    if f.kind == "yaml":
        return value if isinstance(value, str) else _yaml_text(value, f.path)
    if isinstance(value, float):
        return repr(value)
    return str(value)


class _Omit:
    pass


OMIT = _Omit()  # the field is left out of the spec (default, or auto)


def from_raw(f: FieldSpec, raw: Any) -> Any:
    """A raw form value as a spec value, OMIT when empty. Unparseable numbers pass through as text so that the
    schema's own message ("Input should be a valid integer") names the field."""
    if f.kind in ("choice", "bool", "tristate"):
        return raw
    text = "" if raw is None else str(raw).strip()
    if not text:
        return OMIT
    if f.kind == "int":
        try:
            return int(text)
        except ValueError:
            try:
                x = float(text)
                return int(x) if x.is_integer() else text
            except ValueError:
                return text
    if f.kind == "float":
        try:
            return float(text)
        except ValueError:
            return text
    if f.kind == "list":
        if text in f.choices:
            return text
        return [p.strip() for p in text.split(",") if p.strip()]
    if f.kind == "yaml":
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpecError([(f.path, f"not valid YAML: {exc}")]) from None
    return text


def default_values(fields: list[FieldSpec]) -> dict[str, Any]:
    """Raw values of an empty form."""
    out: dict[str, Any] = {}
    for top in fields:
        for f in top.walk():
            if f.kind == "section":
                out[f.path] = True if not f.optional or f.technique else f.default is not None
            else:
                out[f.path] = to_raw(f, f.default)
    return out


def spec_values(fields: list[FieldSpec], spec: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Raw values showing a spec dict (for "clone and edit"); fields it does not mention keep their value in
    `base` (default: the defaults). `lora: true` / `lora: false` shorthands switch the section on/off."""
    values = dict(base) if base is not None else default_values(fields)

    def fill(fs: tuple[FieldSpec, ...] | list[FieldSpec], d: dict[str, Any]) -> None:
        for f in fs:
            if f.name not in d:
                continue
            v = d[f.name]
            if f.kind == "section":
                values[f.path] = v is not None and v is not False
                if isinstance(v, dict):
                    fill(f.children, v)
            else:
                values[f.path] = to_raw(f, v)

    fill(fields, spec)
    return values


def to_spec(fields: list[FieldSpec], values: dict[str, Any]) -> dict[str, Any]:
    """The spec dict a form's raw values describe: only what differs from the schema defaults, auto fields left
    out, and only the options block of the chosen technique. Raises `SpecError` for unparseable YAML fields."""
    technique = values.get("technique")
    errors: list[tuple[str, str]] = []

    def build(fs: tuple[FieldSpec, ...] | list[FieldSpec]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fs:
            if f.technique and f.technique != technique:
                continue
            if f.kind == "section":
                on = bool(values.get(f.path, True))
                if f.optional and not f.technique and not on:
                    if f.default is not None:
                        out[f.name] = None
                    continue
                sub = build(f.children)
                if sub:
                    out[f.name] = sub
                continue
            try:
                v = from_raw(f, values.get(f.path))
            except SpecError as exc:
                errors.extend(exc.errors)
                continue
            if v is OMIT or v == f.default:
                continue
            out[f.name] = v
        return out

    spec = build(fields)
    if errors:
        raise SpecError(errors)
    return spec


def locate(error_field: str, paths: typing.Iterable[str]) -> str | None:
    """The form field an error belongs to: the longest path that is the error's location or a prefix of it
    (pydantic adds union members and list indexes: `lora.target_modules.list[str].0`)."""
    best = None
    for p in paths:
        if (error_field == p or error_field.startswith(p + ".")) and (best is None or len(p) > len(best)):
            best = p
    return best


def auto_hints(fields: list[FieldSpec], values: dict[str, Any], resolved: TrainSpec) -> dict[str, tuple[str, str]]:
    """{path: (value, why)} for every field the user left empty or `auto` that sizing filled in."""
    data = resolved.model_dump(mode="json")
    out: dict[str, tuple[str, str]] = {}
    for path, f in all_fields(fields).items():
        if f.kind == "section":
            continue
        raw = values.get(path)
        if raw not in ("", None, "auto"):
            continue
        v: Any = data
        for part in path.split("."):
            v = v.get(part) if isinstance(v, dict) else None
        if v is None or v == "auto":
            continue
        why = resolved.auto.get(path, "")
        if f.kind in ("tristate", "bool"):
            shown = "on" if v else "off"
        else:
            shown = str(v) if f.kind == "choice" else str(to_raw(f, v))
        out[path] = (shown, why)
    return out


# --- sizing a form that is partly invalid ---------------------------------------------------------------------

NO_DATASET_YET = "(not chosen yet)"  # sizing depends on the model and the device, not on the data
UNCLEARABLE = ("model", "technique")  # sizing cannot go on without these


def clear_fields(fields: list[FieldSpec], values: dict[str, Any],
                 errors: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The raw values with every field an error names put back to its default (empty: auto), so the rest of the
    form can still be sized; None if an error names a field sizing cannot do without, or nothing changed."""
    by_path = all_fields(fields)
    out = dict(values)
    for error_field, _ in errors:
        path = locate(error_field, by_path)
        if path is None or path in UNCLEARABLE:
            return None
        for f in by_path[path].walk():  # a section's error (e.g. its own validator) clears its fields
            if f.kind != "section":
                out[f.path] = to_raw(f, f.default)
    return out if out != values else None


def size_valid_part(fields: list[FieldSpec], values: dict[str, Any], preview: typing.Callable[[dict], TrainSpec],
                    rounds: int = 4) -> tuple[TrainSpec | None, list[tuple[str, str]]]:
    """(sized spec, errors) for a form's raw values: every error found on the way (schema, YAML, a dataset of the
    wrong kind for the technique, which only `preview` finds), and the spec `preview` sizes once the fields those
    errors name are left to auto. One invalid field does not cost the other fields their auto values."""
    errors: list[tuple[str, str]] = []
    trial: dict[str, Any] | None = values
    for _ in range(rounds):
        try:
            spec = to_spec(fields, trial)
            spec.setdefault("dataset", NO_DATASET_YET)
            return preview(spec), errors
        except SpecError as exc:
            errors.extend(e for e in exc.errors if e not in errors)
            trial = clear_fields(fields, trial, exc.errors)
            if trial is None:
                break
    return None, errors
