"""Speaker-tagged transcripts in plain text, read as conversations.

Public datasets often hold a whole conversation in one string: Anthropic HH-RLHF (`\\n\\nHuman: … \\n\\nAssistant: …`),
Vicuna/ShareGPT exports (`USER: … ASSISTANT: …`), Zephyr/TÜLU (`<|user|> … <|assistant|> …`) and Alpaca prompts
(`### Instruction: … ### Response: …`). A column whose sampled values all carry one style's user and assistant tags
is that style's transcript; each value is split at the tags into {role, content} turns, text before the first tag
becoming a system turn. Preference rows whose `chosen` and `rejected` are transcripts then share their first turns,
and that shared prefix becomes the prompt, as TRL's own dataset scripts (`hh-rlhf-helpful-base.py`) do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Style:
    name: str
    label: str
    tag: re.Pattern[str]           # group 1: the speaker
    roles: dict[str, str]          # speaker (lower case) -> role; "input" joins the previous user turn
    strip: tuple[str, ...] = ()    # end-of-turn markers removed from contents


STYLES: tuple[Style, ...] = (
    Style("hh", "Human:/Assistant: (HH-RLHF)", re.compile(r"(?:^|\n\n)(Human|Assistant|System):[ \t]?"),
          {"human": "user", "assistant": "assistant", "system": "system"}),
    Style("tags", "<|user|>/<|assistant|> (Zephyr)", re.compile(r"<\|(user|assistant|system)\|>\s*"),
          {"user": "user", "assistant": "assistant", "system": "system"}, ("</s>", "<|end|>", "<|endoftext|>")),
    Style("alpaca", "### Instruction:/### Response: (Alpaca)",
          re.compile(r"(?:^|\n)#{2,3} ?(Instruction|Input|Response|System):[ \t]*\n?"),
          {"instruction": "user", "input": "input", "response": "assistant", "system": "system"}),
    Style("vicuna", "USER:/ASSISTANT: (Vicuna)", re.compile(r"(?:^|(?<=\s))(USER|ASSISTANT|SYSTEM):[ \t]?"),
          {"user": "user", "assistant": "assistant", "system": "system"}, ("</s>",)),
)
BY_NAME = {s.name: s for s in STYLES}
PREFIX = "transcript:"


def detect(sample: list[str]) -> str | None:
    """The style every sampled string is a transcript of (needs a user and an assistant tag in each), or None."""
    texts = [s for s in sample if isinstance(s, str) and s.strip()][:5]
    if not texts:
        return None
    for style in STYLES:
        if all(_has_both(style, t) for t in texts):
            return style.name
    return None


def _has_both(style: Style, text: str) -> bool:
    roles = {style.roles.get(m.group(1).lower()) for m in style.tag.finditer(text)}
    return "user" in roles and "assistant" in roles


def parse(text: str, style_name: str) -> tuple[list[dict[str, str]] | None, str | None]:
    """The turns of one transcript, or (None, why) when it carries no tags of its style."""
    style = BY_NAME[style_name]
    parts = style.tag.split(text)
    if len(parts) < 3:
        return None, f"is not a {style.label} transcript (no speaker tags)"
    turns: list[dict[str, str]] = []
    head = _clean(parts[0], style)
    if head:
        turns.append({"role": "system", "content": head})
    for speaker, content in zip(parts[1::2], parts[2::2]):
        role = style.roles[speaker.lower()]
        content = _clean(content, style)
        if role == "input":  # Alpaca: the input belongs to the instruction
            if turns and turns[-1]["role"] == "user" and content:
                turns[-1]["content"] += "\n\n" + content
            continue
        turns.append({"role": role, "content": content})
    return turns, None


def _clean(text: str, style: Style) -> str:
    text = text.strip()
    for marker in style.strip:
        if text.endswith(marker):
            text = text[: -len(marker)].rstrip()
    return text


def label(shape: str) -> str:
    return BY_NAME[shape.removeprefix(PREFIX)].label
