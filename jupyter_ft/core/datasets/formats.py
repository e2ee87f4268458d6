"""The data kinds (sft, preference, prompt), the formats of each as TRL reads them, and which kind a technique
trains on. The row checks themselves are in `checks` (one validator: the catalog's)."""

from __future__ import annotations

from jupyter_ft.core.train import techniques

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
TECHNIQUE_DATA: dict[str, str] = {name: unit.data for name, unit in techniques.registry().items()}


def data_kind(technique: str) -> str:
    """The data kind a technique trains on (a data kind names itself: `preference` -> `preference`)."""
    unit = techniques.find(technique)
    return unit.data if unit is not None else technique


class DatasetFormatError(ValueError):
    """Bad dataset for a technique; the message names the file/columns/rows."""
