"""Which dataset shapes each technique accepts, and row-level checks that name the row and field.

A wrong column name must fail in the first second of a job, not an hour in; a malformed row must be reported
with its number, never silently skipped.
"""

from __future__ import annotations

from typing import Any, Iterable

from jupyter_ft import techniques

ROLES = {"system", "user", "assistant", "tool"}

# technique -> accepted formats, each a tuple of required columns (first match wins)
FORMATS: dict[str, dict[str, tuple[str, ...]]] = {
    "sft": {
        "messages": ("messages",),
        "prompt_completion": ("prompt", "completion"),
        "text": ("text",),
    },
    # preference data (DPO and friends): explicit prompt, or whole conversations sharing a prefix
    "preference": {
        "preference": ("prompt", "chosen", "rejected"),
        "preference_implicit": ("chosen", "rejected"),
    },
    # RL prompts (GRPO / RLAIF): a prompt; any other column is passed to reward functions
    "prompt": {
        "prompt": ("prompt",),
    },
}


# technique -> the kind of data it trains on (a key of FORMATS), as each technique's unit declares it
TECHNIQUE_DATA: dict[str, str] = {name: unit.data for name, unit in techniques.registry().items()}


def data_kind(technique: str) -> str:
    """The data kind a technique trains on (a data kind names itself: `preference` -> `preference`)."""
    unit = techniques.find(technique)
    return unit.data if unit is not None else technique


class DatasetFormatError(ValueError):
    """Bad dataset for a technique; the message names the file/columns/rows."""


def detect(technique: str, columns: Iterable[str]) -> str:
    cols = set(columns)
    formats = FORMATS[data_kind(technique)]
    for name, required in formats.items():
        if set(required) <= cols:
            return name
    expected = " | ".join(" + ".join(repr(c) for c in req) for req in formats.values())
    raise DatasetFormatError(
        f"{technique} needs columns {expected}; the dataset has {sorted(cols) or 'no columns'}"
    )


def _check_messages(value: Any, field: str) -> str | None:
    if not isinstance(value, list) or not value:
        return f"'{field}' must be a non-empty list of {{role, content}} messages, got {type(value).__name__}"
    for j, m in enumerate(value):
        if not isinstance(m, dict):
            return f"'{field}'[{j}] must be a {{role, content}} mapping, got {type(m).__name__}"
        if m.get("role") not in ROLES:
            return f"'{field}'[{j}].role must be one of {sorted(ROLES)}, got {m.get('role')!r}"
        if not isinstance(m.get("content"), str):
            return f"'{field}'[{j}].content must be a string, got {type(m.get('content')).__name__}"
    return None


def _check_text_or_messages(value: Any, field: str) -> str | None:
    if isinstance(value, str):
        return None if value.strip() else f"'{field}' is empty"
    if isinstance(value, list):
        return _check_messages(value, field)
    return f"'{field}' must be a string or a list of messages, got {type(value).__name__}"


def check_row(technique: str, fmt: str, row: dict[str, Any]) -> str | None:
    """The problem with one row, or None if it is usable."""
    technique = data_kind(technique)
    if technique == "preference":
        for col in ("prompt", "chosen", "rejected") if fmt == "preference" else ("chosen", "rejected"):
            err = _check_text_or_messages(row.get(col), col)
            if err:
                return err
        if row["chosen"] == row["rejected"]:
            return "'chosen' and 'rejected' are identical"
        if fmt == "preference_implicit" and not (isinstance(row["chosen"], list) and isinstance(row["rejected"], list)):
            return "without a 'prompt' column, 'chosen' and 'rejected' must be whole conversations (lists of messages)"
        return None
    if technique == "prompt":
        return _check_text_or_messages(row.get("prompt"), "prompt")
    if technique == "sft":
        if fmt == "messages":
            err = _check_messages(row.get("messages"), "messages")
            if err:
                return err
            if not any(m["role"] == "assistant" and m["content"].strip() for m in row["messages"]):
                return "'messages' has no non-empty assistant message to learn from"
            return None
        if fmt == "prompt_completion":
            return _check_text_or_messages(row.get("prompt"), "prompt") or _check_text_or_messages(row.get("completion"), "completion")
        if fmt == "text":
            v = row.get("text")
            if not isinstance(v, str):
                return f"'text' must be a string, got {type(v).__name__}"
            return None if v.strip() else "'text' is empty"
    raise KeyError(f"no row check for {technique}/{fmt}")


def validate_rows(technique: str, columns: Iterable[str], rows: Iterable[dict[str, Any]], source: str, max_report: int = 5) -> str:
    """Detect the format and check every row; raise `DatasetFormatError` listing the first bad rows (1-based)."""
    try:
        fmt = detect(technique, columns)
    except DatasetFormatError as exc:
        raise DatasetFormatError(f"{source}: {exc}") from None
    bad: list[str] = []
    count = 0
    for i, row in enumerate(rows, start=1):
        err = check_row(technique, fmt, row)
        if err:
            count += 1
            if len(bad) < max_report:
                bad.append(f"row {i}: {err}")
    if count:
        more = f" (and {count - len(bad)} more)" if count > len(bad) else ""
        raise DatasetFormatError(f"{source}: {count} bad row(s) for {technique}/{fmt}: " + "; ".join(bad) + more)
    return fmt
