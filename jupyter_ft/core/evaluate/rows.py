"""What an evaluation reads from a catalog row: the prompt a model answers and the reference it is scored against.

One rule per catalog kind, so every evaluator, the dry run and the results table agree:
- sft `messages`: the conversation up to its last assistant turn is the prompt; that turn is the reference;
- sft `prompt_completion`: prompt and completion;
- preference: the prompt, and the `chosen` answer as the reference (the human-preferred one);
- prompt: the prompt, and the first of `answer`, `reference`, `completion`, `solution` as the reference (if any).
An evaluator's `answer_column` names another reference column. Pure Python (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REFERENCE_COLUMNS = ("answer", "reference", "completion", "solution", "target", "label")


@dataclass
class EvalSample:
    id: int                      # position in the scored split (0-based)
    prompt: Any                  # a string, or a list of {role, content} messages
    reference: str | None
    row: dict[str, Any] = field(default_factory=dict)


def message_text(value: Any) -> str:
    """A completion as text: a string, or the content of the last message of a list."""
    if isinstance(value, list):
        return str(value[-1].get("content", "")) if value and isinstance(value[-1], dict) else ""
    return "" if value is None else str(value)


def prompt_text(prompt: Any) -> str:
    """A prompt as one string for tables and judges (messages joined as `role: content` lines)."""
    if isinstance(prompt, list):
        if len(prompt) == 1 and isinstance(prompt[0], dict):
            return str(prompt[0].get("content", ""))
        return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in prompt if isinstance(m, dict))
    return "" if prompt is None else str(prompt)


def to_sample(i: int, row: dict[str, Any]) -> EvalSample:
    if isinstance(row.get("messages"), list):
        msgs = row["messages"]
        last = max((j for j, m in enumerate(msgs) if isinstance(m, dict) and m.get("role") == "assistant"), default=None)
        if last is None:
            return EvalSample(i, msgs, None, row)
        return EvalSample(i, msgs[:last], str(msgs[last].get("content", "")), row)
    if "chosen" in row and "prompt" in row:
        return EvalSample(i, row["prompt"], message_text(row["chosen"]), row)
    if "chosen" in row:  # implicit prompt: the shared conversation prefix
        chosen = row["chosen"] if isinstance(row["chosen"], list) else []
        return EvalSample(i, chosen[:-1], message_text(chosen), row)
    if "prompt" in row:
        ref = next((row[c] for c in REFERENCE_COLUMNS if row.get(c) is not None), None)
        return EvalSample(i, row["prompt"], None if ref is None else message_text(ref), row)
    if "text" in row:
        return EvalSample(i, "", str(row["text"]), row)
    return EvalSample(i, None, None, row)


def reference_of(sample: EvalSample, column: str | None) -> str | None:
    """The reference an evaluator scores against: its `answer_column` when given, else the sample's."""
    if column:
        v = sample.row.get(column)
        return None if v is None else message_text(v)
    return sample.reference
