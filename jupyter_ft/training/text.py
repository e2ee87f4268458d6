"""Prompts, completions and references as plain text, for rewards and judges alike."""

from __future__ import annotations

from typing import Any


def as_text(value: Any) -> str:
    """A completion, prompt or reference as text: strings as they are, conversations as their last message (for a
    completion, the assistant's answer)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return str(value.get("content", ""))
    if isinstance(value, (list, tuple)) and value and all(isinstance(m, dict) for m in value):
        return str(value[-1].get("content", ""))
    return str(value)
