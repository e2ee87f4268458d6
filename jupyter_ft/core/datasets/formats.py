"""The data kinds (sft, preference, prompt), the formats of each as TRL reads them, and which kind a technique
trains on. The row checks themselves are in `checks` (one validator: the catalog's)."""

from __future__ import annotations


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


# technique -> the kind of data it trains on (a key of FORMATS); technique modules of the same data kind share it
TECHNIQUE_DATA: dict[str, str] = {
    "sft": "sft",
    "dpo": "preference", "orpo": "preference", "kto": "preference",
    "grpo": "prompt", "rlaif": "prompt", "online_dpo": "prompt",
}


def data_kind(technique: str) -> str:
    return TECHNIQUE_DATA.get(technique, technique)


class DatasetFormatError(ValueError):
    """Bad dataset for a technique; the message names the file/columns/rows."""
