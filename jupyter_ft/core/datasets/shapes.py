"""Which column feeds which field of a technique's data, decided from column names and value shapes.

A `Plan` is made once per import from the first rows: an explicit `mapping` ({field: column}) wins, then exact
column names, then common aliases (`question` -> `prompt`, ShareGPT `conversations`, Alpaca
`instruction`/`input`/`output`), then value shapes (a single column of chat messages is the SFT `messages`).
The plan also says how each field is converted to the exact shape TRL expects, and records every conversion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jupyter_ft.core.datasets.errors import DatasetImportError
from jupyter_ft.core.datasets import transcripts as T
from jupyter_ft.core.datasets.formats import FORMATS, data_kind

TEXT = "text"                 # a string
MESSAGES = "messages"         # a list of {role, content}
SHAREGPT = "sharegpt"         # a list of {from, value} (ShareGPT)
JSON_MESSAGES = "json"        # a string holding a JSON list of messages (CSV, spreadsheets)
NULL = "null"                 # no values seen
OPENAI_INPUT = "openai_input"  # OpenAI preference fine-tuning: {"messages": [...], "tools": ...}
SCORED = "scored:"            # scored:<text key>:<score key>: a list of scored completions (UltraFeedback)
CONVERSATIONAL = {MESSAGES, SHAREGPT, JSON_MESSAGES, OPENAI_INPUT}
TEXT_KEYS = ("response", "text", "completion", "output", "content", "answer")
SCORE_KEYS = ("overall_score", "score", "rating", "reward", "fine-grained_score")


def is_conv(shape: str | None) -> bool:
    """Whether values of this shape become conversations (lists of {role, content})."""
    return shape in CONVERSATIONAL or bool(shape and shape.startswith(T.PREFIX))

KIND_ORDER = ("preference", "sft", "prompt")  # tried in this order when no technique is given

# field -> other column names that mean the same thing (only used when the exact name is absent)
ALIASES: dict[str, tuple[str, ...]] = {
    "messages": ("conversations", "conversation", "chat", "dialog", "dialogue"),
    "prompt": ("question", "query", "problem", "instruction", "input"),
    "completion": ("answer", "response", "output"),
    "chosen": ("preferred_output",),           # OpenAI preference fine-tuning
    "rejected": ("non_preferred_output",),
}

# who speaks in a wrapped string: prompts come from the user, answers from the assistant
WRAP_ROLE = {"prompt": "user", "completion": "assistant", "chosen": "assistant", "rejected": "assistant"}

SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "bot": "assistant",
                  "model": "assistant", "system": "system", "tool": "tool", "function": "tool"}


def shape_of_arrow(t: Any, sample: list[Any] | None = None) -> str:
    """The shape of an Arrow column type (`sample`: a few of its values, to spot JSON text)."""
    import pyarrow as pa

    if pa.types.is_null(t):
        return NULL
    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
        return _text_shape(sample or [])
    if (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_struct(t.value_type):
        names = {t.value_type.field(i).name for i in range(t.value_type.num_fields)}
        if {"role", "content"} <= names:
            return MESSAGES
        if {"from", "value"} <= names:
            return SHAREGPT
        return _scored(names) or f"other:{t}"
    if pa.types.is_struct(t) and "messages" in {t.field(i).name for i in range(t.num_fields)}:
        return OPENAI_INPUT
    return f"other:{t}"


def _text_shape(sample: list[str]) -> str:
    if sample and _json_messages(sample):
        return JSON_MESSAGES
    style = T.detect(sample)
    return T.PREFIX + style if style else TEXT


def _scored(keys: set[str]) -> str | None:
    text = next((k for k in TEXT_KEYS if k in keys), None)
    score = next((k for k in SCORE_KEYS if k in keys), None)
    return f"{SCORED}{text}:{score}" if text and score else None


def shape_of_values(values: list[Any]) -> str:
    """The shape of a column from its Python values (rows read one by one)."""
    seen = [v for v in values if v is not None][:50]
    if not seen:
        return NULL
    v = seen[0]
    if isinstance(v, str):
        return _text_shape([s for s in seen if isinstance(s, str)])
    if isinstance(v, dict) and isinstance(v.get("messages"), list):
        return OPENAI_INPUT
    if isinstance(v, list):
        dicts = [m for x in seen if isinstance(x, list) for m in x if isinstance(m, dict)]
        if dicts and all("role" in m and "content" in m for m in dicts[:20]):
            return MESSAGES
        if dicts and all("from" in m and "value" in m for m in dicts[:20]):
            return SHAREGPT
        if dicts and (scored := _scored(set(dicts[0]))):
            return scored
        if not dicts and all(isinstance(x, list) and not x for x in seen):
            return MESSAGES  # only empty lists: the row checks will say so
    return f"other:{type(v).__name__}"


def _json_messages(strings: list[str]) -> bool:
    sample = [s.strip() for s in strings if isinstance(s, str) and s.strip()][:5]
    if not sample or not all(s.startswith("[") for s in sample):
        return False
    try:
        parsed = json.loads(sample[0])
    except ValueError:
        return False
    return isinstance(parsed, list) and all(isinstance(m, dict) and ({"role", "content"} <= m.keys() or
                                                                  {"from", "value"} <= m.keys()) for m in parsed)


def describe_columns(columns: dict[str, str]) -> str:
    return ", ".join(f"{c} ({s.removeprefix('other:')})" for c, s in columns.items()) or "no columns"


@dataclass
class FieldPlan:
    """How one field of the stored rows is built."""

    target: str
    source: str | tuple[str, ...]      # a column, or (instruction, input) for Alpaca prompts
    shape: str                         # what the source column holds
    out: str                           # TEXT or MESSAGES: what the stored field holds
    wrap_role: str | None = None       # a string source wrapped as one message of this role

    @property
    def columns(self) -> tuple[str, ...]:
        return self.source if isinstance(self.source, tuple) else (self.source,)


@dataclass
class Plan:
    kind: str                          # sft | preference | prompt
    format: str                        # TRL format of the stored rows: messages, prompt_completion, text, preference, prompt
    source_format: str                 # what was detected in the source (e.g. preference_implicit, alpaca, sharegpt)
    fields: dict[str, FieldPlan]
    extras: dict[str, str] = field(default_factory=dict)   # kept columns (RL prompts: passed to reward functions)
    dropped: list[str] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)  # effective {field: column}, explicit and detected
    notes: list[str] = field(default_factory=list)         # the conversion record
    implicit: bool = False             # chosen/rejected are whole conversations; the prompt is extracted

    @property
    def conversational(self) -> bool:
        return any(f.out == MESSAGES for f in self.fields.values())

    @property
    def columns(self) -> list[str]:
        """Stored column names, in order."""
        names = list(self.fields)
        if self.implicit:
            names = ["prompt", *names]
        return names + list(self.extras)


def _fields_of(kind: str) -> set[str]:
    return {f for required in FORMATS[kind].values() for f in required}


def make_plan(technique: str | None, columns: dict[str, str], mapping: dict[str, str] | None, label: str) -> Plan:
    """Decide the plan from `columns` ({name: shape}); raise `DatasetImportError` naming what is missing."""
    mapping = dict(mapping or {})
    for target, src in mapping.items():
        if not isinstance(target, str) or not isinstance(src, str):
            raise DatasetImportError(f"mapping must map field names to column names (strings), got {target!r}: {src!r}",
                                     field="mapping")
        if src not in columns:
            raise DatasetImportError(
                f"{label}: mapping {target!r} -> {src!r}: there is no column {src!r}; "
                f"the columns are {sorted(columns)}", field=f"mapping.{target}")
    if technique:
        kind = data_kind(technique)
        if kind not in FORMATS:
            raise DatasetImportError(f"unknown technique or data kind {technique!r}; expected a technique "
                                     f"(sft, ...) or a data kind ({', '.join(FORMATS)})", field="technique")
        if kind != "prompt":
            unknown = sorted(set(mapping) - _fields_of(kind))
            if unknown:
                raise DatasetImportError(
                    f"mapping names {unknown} which {technique} data does not have; its fields are "
                    f"{sorted(_fields_of(kind))}", field=f"mapping.{unknown[0]}")
        kinds: tuple[str, ...] = (kind,)
    else:
        kinds = tuple(k for k in KIND_ORDER if k == "prompt" or set(mapping) <= _fields_of(k))
    for kind in kinds:
        plan = _plan_kind(kind, columns, mapping, label)
        if plan:
            return plan
    kind = kinds[0] if technique else None
    if technique:
        need = f"{technique} data ({kind}) is one of: {KNOWN[kind]}"
    else:
        need = "no data format fits; known shapes: " + "; ".join(f"{k}: {KNOWN[k]}" for k in KIND_ORDER)
    fits = _other_kinds(kind, columns, label) if kind else []
    if fits:
        from jupyter_ft.core.datasets.formats import TECHNIQUE_DATA

        techs = ", ".join(t for t, k in TECHNIQUE_DATA.items() if k in fits)
        hint = f"These columns fit {' and '.join(fits)} data (technique {techs})."
    else:
        hint = _mapping_hint(kind or "sft", columns)
    raise DatasetImportError(f"{label}: {need}. The dataset has {describe_columns(columns)}. " + hint,
                             field="mapping")


def _other_kinds(kind: str, columns: dict[str, str], label: str) -> list[str]:
    out = []
    for other in KIND_ORDER:
        if other == kind:
            continue
        try:
            if _plan_kind(other, columns, {}, label):
                out.append(other)
        except DatasetImportError:
            pass
    return out


KNOWN = {
    "sft": "'messages' (role/content turns, ShareGPT from/value turns, or JSON text of them), 'prompt' + 'completion', "
           "'text', Alpaca 'instruction' (+ 'input') + 'output', or one column of speaker-tagged transcripts "
           "(Human:/Assistant:, USER:/ASSISTANT:, <|user|>/<|assistant|>, ### Instruction:/### Response:)",
    "preference": "'prompt' + 'chosen' + 'rejected', 'chosen' + 'rejected' as whole conversations or transcripts "
                  "sharing their first turns, OpenAI 'input' + 'preferred_output' + 'non_preferred_output', or a "
                  "prompt with a list of scored completions (UltraFeedback 'instruction' + 'completions')",
    "prompt": "'prompt' (text or turns), with any other columns kept for reward functions",
}


def _prompt_hint(columns: dict[str, str], taken: set[str]) -> str:
    free = [c for c, sh in columns.items() if c not in taken and (sh == TEXT or is_conv(sh))]
    if free:
        return f"If {free[0]!r} holds the prompt, name it: mapping={{'prompt': {free[0]!r}}}."
    return "No other column holds text that could be the prompt: add a 'prompt' column."


def _mapping_hint(kind: str, columns: dict[str, str]) -> str:
    """The `mapping=` that would read this data, built from the columns that hold text or turns; or why none can."""
    usable = [c for c, sh in columns.items() if sh == TEXT or is_conv(sh)]
    fields = {"sft": ("prompt", "completion"), "preference": ("prompt", "chosen", "rejected"),
              "prompt": ("prompt",)}[kind]
    if kind == "sft" and len(usable) == 1:
        fields = ("messages",) if is_conv(columns[usable[0]]) else ("text",)
    if len(usable) < len(fields):
        held = f"only {usable} hold" if usable else "no column holds"
        return (f"No mapping can fix this: {kind} data needs {len(fields)} column(s) of text or turns "
                f"({', '.join(fields)}) and {held} text or turns.")
    pairs = ", ".join(f"{f!r}: {c!r}" for f, c in zip(fields, usable))
    return f"If these columns hold that data, name them, e.g. mapping={{{pairs}}}."


def _plan_kind(kind: str, columns: dict[str, str], mapping: dict[str, str], label: str) -> Plan | None:
    if kind == "sft" and not mapping and {"instruction", "output"} <= columns.keys() and not (
            {"messages", "prompt", "text"} & columns.keys()):  # Alpaca: instruction (+ input) -> prompt
        return _build(kind, "alpaca", {"prompt": ("instruction", "alias"), "completion": ("output", "alias")},
                      columns, mapping, label)
    if kind == "sft" and not mapping and "messages" not in columns:  # one transcript column: a conversation
        tr = [c for c, s in columns.items() if s.startswith(T.PREFIX)]
        if len(tr) == 1 and not ({"prompt", "completion"} <= columns.keys()):
            return _build(kind, "messages", {"messages": (tr[0], "shape")}, columns, mapping, label)
    if kind == "preference" and not ({"chosen", "rejected"} & (columns.keys() | mapping.keys())):
        scored = [c for c, s in columns.items() if s.startswith(SCORED)]
        prompt = _source_for("prompt", columns, mapping, set(scored))
        if len(scored) == 1 and prompt:
            return _build(kind, "preference", {"prompt": prompt, "chosen": (scored[0], "scored"),
                                               "rejected": (scored[0], "scored")}, columns, mapping, label)
    for fmt, required in FORMATS[kind].items():
        found: dict[str, tuple[str, str]] = {}  # field -> (column, how)
        for f in required:
            hit = _source_for(f, columns, mapping, {c for c, _ in found.values()})
            if hit is None:
                break
            found[f] = hit
        else:
            return _build(kind, fmt, found, columns, mapping, label)
    if kind == "sft" and not mapping:
        conv = [c for c, s in columns.items() if is_conv(s)]
        if len(conv) == 1:
            return _build(kind, "messages", {"messages": (conv[0], "shape")}, columns, mapping, label)
    return None


def _source_for(f: str, columns: dict[str, str], mapping: dict[str, str], taken: set[str]) -> tuple[str, str] | None:
    if f in mapping:
        return mapping[f], "mapping"
    if f in columns and f not in mapping.values() and f not in taken:
        return f, "name"
    for alias in ALIASES.get(f, ()):
        if alias in columns and alias not in taken and alias not in mapping.values():
            shape = columns[alias]
            if f == "messages" and not is_conv(shape):
                continue
            if f != "messages" and not (shape == TEXT or is_conv(shape)):
                continue
            return alias, "alias"
    return None


def _build(kind: str, fmt: str, found: dict[str, tuple[str, str]], columns: dict[str, str], mapping: dict[str, str],
           label: str) -> Plan:
    notes: list[str] = []
    implicit = fmt == "preference_implicit"
    alpaca = fmt == "alpaca"
    if implicit:
        text_cols = [found[f][0] for f in ("chosen", "rejected") if columns[found[f][0]] == TEXT]
        if text_cols:
            raise DatasetImportError(
                f"{label}: preference data without a 'prompt' column needs 'chosen' and 'rejected' as whole "
                "conversations (lists of messages or speaker-tagged transcripts) sharing their first turns; "
                f"{text_cols} hold plain text. " + _prompt_hint(columns, {found[f][0] for f in ("chosen", "rejected")}),
                field="prompt")
    conv = any(is_conv(columns.get(col)) for col, _ in found.values())
    fields: dict[str, FieldPlan] = {}
    done_notes: set[str] = set()
    for f, (col, how) in found.items():
        shape = columns[col]
        source: str | tuple[str, ...] = col
        if f == "prompt" and alpaca:
            source = ("instruction", "input") if "input" in columns else ("instruction",)
        out = MESSAGES if (conv or f == "messages") and f != "text" else TEXT
        wrap = WRAP_ROLE.get(f) if out == MESSAGES and not is_conv(shape) and not shape.startswith(SCORED) else None
        fields[f] = FieldPlan(f, source, shape, out, wrap)
        if how in ("alias", "shape", "scored") or (how == "mapping" and col != f):
            notes.append(f"column {col!r} -> {f!r} ({'explicit mapping' if how == 'mapping' else 'detected ' + how})")
        if shape == SHAREGPT:
            notes.append(f"{col!r}: ShareGPT {{from, value}} messages -> {{role, content}} "
                         "(human -> user, gpt -> assistant)")
        elif shape == JSON_MESSAGES:
            notes.append(f"{col!r}: JSON text parsed into a list of messages")
        elif shape.startswith(T.PREFIX) and f not in done_notes:
            notes.append(f"{col!r}: {T.label(shape)} transcript text split into {{role, content}} turns")
        elif shape == OPENAI_INPUT:
            notes.append(f"{col!r}: OpenAI fine-tuning input -> its 'messages'")
        elif shape.startswith(SCORED) and f == "chosen":
            _, text_key, score_key = shape.split(":", 2)
            notes.append(f"{col!r}: scored completions binarised (UltraFeedback rule): chosen = the '{text_key}' with "
                         f"the highest '{score_key}', rejected = the one with the lowest; rows whose completions all "
                         "score the same have no pair and are reported")
        done_notes.add(f)
        if wrap:
            notes.append(f"string {f!r} wrapped as one {wrap} message (the other fields are conversations)")
    if alpaca:
        notes.append("Alpaca rows: prompt = instruction" + (" + blank line + input (when not empty)" if "input" in columns
                                                             else "") + ", completion = output")
    if implicit:
        notes.append("implicit prompt: the turns 'chosen' and 'rejected' share at the start -> 'prompt'")
    used = {c for fp in fields.values() for c in fp.columns}
    extras: dict[str, str] = {}
    dropped: list[str] = []
    if kind == "prompt":  # every other column is passed to the reward functions, renamed by the mapping
        renames = {src: tgt for tgt, src in mapping.items() if tgt != "prompt"}
        for c in columns:
            if c not in used:
                extras[renames.get(c, c)] = c
                if c in renames:
                    notes.append(f"column {c!r} -> {renames[c]!r} (explicit mapping)")
    else:
        dropped = [c for c in columns if c not in used]
        if dropped:
            notes.append(f"dropped columns not used by {kind} training: {dropped}")
    effective = {f: fp.source if isinstance(fp.source, str) else "+".join(fp.source) for f, fp in fields.items()}
    effective.update({k: v for k, v in extras.items() if k != v})
    trl_format = {"preference_implicit": "preference", "alpaca": "prompt_completion"}.get(fmt, fmt)
    return Plan(kind=kind, format=trl_format, source_format=("sharegpt" if any(
        fp.shape == SHAREGPT for fp in fields.values()) else fmt), fields=fields, extras=extras, dropped=dropped,
        mapping=effective, notes=notes, implicit=implicit)
