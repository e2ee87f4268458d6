"""`--set FIELD=VALUE` overrides of a job spec: one parser for every face that takes them (`jupyter-ft submit`,
`%%ft_train`, `%ft_train`).

A FIELD is a spec field or a dotted path into a block (`lora.r`, `grpo.num_generations`); a VALUE is YAML
(`4`, `1e-4`, `true`, `[q_proj, v_proj]`, `null`; empty means null). Overrides become a nested mapping merged into
the spec's own mapping before it is validated once, so `--set lora.r=4` and `lora: {r: 4}` are the same spec.
"""

from __future__ import annotations

from typing import Any, Iterable

import yaml

from jupyter_ft.core.spec.train import yaml_problem


class OverrideError(ValueError):
    """A `--set` item that cannot be read; the message quotes the item."""


def parse_item(item: str) -> tuple[list[str], Any]:
    """`'lora.r=4'` -> `(['lora', 'r'], 4)`."""
    key, eq, value = item.partition("=")
    if not eq:
        raise OverrideError(f"--set {item!r}: expected FIELD=VALUE")
    path = key.strip().split(".")
    if not all(p.strip() for p in path):
        raise OverrideError(f"--set {item!r}: expected FIELD=VALUE, FIELD a field name or a dotted path such as lora.r")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise OverrideError(f"--set {item!r}: the value is not valid YAML: {yaml_problem(exc)}") from None
    return [p.strip() for p in path], parsed


def parse(items: Iterable[str] | None) -> dict[str, Any]:
    """The nested mapping a list of `--set` items describes (a later item wins over an earlier one)."""
    out: dict[str, Any] = {}
    for item in items or ():
        path, value = parse_item(item)
        target = out
        for depth, part in enumerate(path[:-1]):
            inner = target.setdefault(part, {})
            if not isinstance(inner, dict):
                raise OverrideError(f"--set {item!r}: {'.'.join(path[:depth + 1])} is already set to {inner!r} "
                                    "by an earlier --set")
            target = inner
        target[path[-1]] = value
    return out


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` over `base`, block by block: `{'lora': {'r': 4}}` over `{'lora': {'alpha': 8}}` keeps both."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def apply(spec: dict[str, Any], items: Iterable[str] | None) -> dict[str, Any]:
    """The spec mapping with the `--set` items applied."""
    return merge(spec, parse(items))
