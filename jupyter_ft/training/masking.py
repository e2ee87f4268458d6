"""Which tokens of an SFT row carry the loss: the one rule a job trains by and the token preview shows.

Conversations train on every assistant turn:

- a chat template with `{% generation %}` markers (or one TRL has a training template for) gives TRL's own
  assistant mask (`assistant_only_loss`);
- any other template (ChatML as SmolLM2 and Qwen2 ship it, and most others) is rendered here turn by turn: for each
  assistant message, the conversation before it with the generation prompt, and the conversation up to and
  including it. Where both are prefixes of the whole rendering (the template is prefix-stable for this row), the
  characters between them are that turn's answer; it carries the loss up to and including the first special token
  after its content (the end-of-turn token; a line break after it is context). The tokens of the whole rendering are
  marked by their character offsets, so the ids are exactly the ones the template gives the whole conversation.
  A row the template does not render prefix-stably (it rewrites earlier turns, e.g. drops their reasoning, or the
  generation prompt differs from the header of the rendered answer) trains only its last assistant turn, split into
  prompt and completion as TRL splits one, and the rule says how many rows did and why.

The turn-by-turn rows reach TRL pre-tokenized (`input_ids` + `assistant_masks`): TRL builds the labels from the mask,
truncates to `max_length` and drops rows left without a trained token, as it does for its own masks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MARKERS = "every assistant turn (chat template generation markers)"
TURNS = "every assistant turn (rendered turn by turn: the chat template has no generation markers)"


class NotPrefixStable(ValueError):
    """The chat template renders a turn differently alone than inside the whole conversation (the reason says how)."""


def has_assistant_mask(tokenizer) -> bool:
    """Whether TRL can mask assistant tokens itself: `{% generation %}` markers, or a training template it knows."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if not template:
        return False
    if has_generation_markers(template):
        return True
    try:
        return get_training_chat_template(tokenizer) is not None
    except Exception:
        return False


def last_turn_as_completion(row: dict) -> dict:
    """A conversation as TRL's prompt/completion pair: everything before the last assistant message, and it."""
    msgs = row["messages"]
    last = max(i for i, m in enumerate(msgs) if m["role"] == "assistant")
    return {"prompt": msgs[:last], "completion": [msgs[last]]}


def special_tokens(tokenizer) -> list[str]:
    """The special tokens' texts (an end-of-turn token is one of them), longest first."""
    found = {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
    found.update(tokenizer.all_special_tokens)
    return sorted((t for t in found if t), key=len, reverse=True)


def _render(tokenizer, messages: list[dict], tools: Any, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=generation_prompt)


def _end_of_turn(text: str, start: int, end: int, specials: list[str]) -> int:
    """Where an answer stops: after the first special token in text[start:end] (its end-of-turn token), else at
    `end` (a template without special tokens: the whole rendered turn)."""
    best: tuple[int, int] | None = None
    for tok in specials:  # longest first: at one position the longest token wins
        at = text.find(tok, start, end)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, at + len(tok))
    return best[1] if best else end


def assistant_spans(tokenizer, messages: list[dict], tools: Any = None,
                    specials: list[str] | None = None) -> tuple[str, list[tuple[int, int]]]:
    """The whole rendering of a conversation and the character spans of its assistant answers (content and
    end-of-turn token), found by rendering it turn by turn. Raises `NotPrefixStable` saying why when the turn by
    turn renderings are not prefixes of the whole one."""
    specials = special_tokens(tokenizer) if specials is None else specials
    whole = _render(tokenizer, messages, tools, False)
    spans: list[tuple[int, int]] = []
    n = 0
    for i, m in enumerate(messages):
        if m.get("role") != "assistant":
            continue
        n += 1
        try:
            before = _render(tokenizer, messages[:i], tools, True)
            upto = _render(tokenizer, messages[: i + 1], tools, False)
        except Exception as exc:  # e.g. a template that refuses a conversation starting with its answer
            raise NotPrefixStable(f"the template cannot render the conversation before assistant turn {n} "
                                  f"({type(exc).__name__}: {exc})") from None
        if not whole.startswith(upto):
            raise NotPrefixStable(f"the conversation up to assistant turn {n} renders differently from the start of "
                                  "the whole conversation (the template rewrites earlier turns)")
        if not upto.startswith(before):
            raise NotPrefixStable(f"the generation prompt before assistant turn {n} differs from how the whole "
                                  "conversation renders that turn's header")
        start, end = len(before), len(upto)
        content = m.get("content")
        at = upto.find(content, start, end) if isinstance(content, str) and content else -1
        content_end = at + len(content) if at >= 0 else start
        stop = _end_of_turn(upto, content_end, end, specials)
        if stop > start:
            spans.append((start, stop))
    return whole, spans


def mask_of(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """1 for each token whose characters overlap an answer span, else 0 (offsets of the whole rendering)."""
    mask = [0] * len(offsets)
    j = 0
    for k, (s, e) in enumerate(offsets):
        while j < len(spans) and spans[j][1] <= s:
            j += 1
        if j < len(spans) and s < spans[j][1] and e > spans[j][0] and e > s:
            mask[k] = 1
    return mask


def turn_by_turn(tokenizer, messages: list[dict], tools: Any = None,
                 specials: list[str] | None = None) -> dict[str, list[int]]:
    """`input_ids` (the whole rendering, tokenized as the chat template tokenizes it) and `assistant_masks` (1 on
    every answer's tokens) of a conversation. Raises `NotPrefixStable`.

    A fast tokenizer marks tokens by their character offsets; one without offsets tokenizes the text between the
    span boundaries piece by piece, and the pieces must make up the same ids as the whole rendering."""
    whole, spans = assistant_spans(tokenizer, messages, tools, specials)
    try:
        enc = tokenizer(whole, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, ValueError):
        return _by_pieces(tokenizer, whole, spans)
    return {"input_ids": list(enc["input_ids"]),
            "assistant_masks": mask_of([tuple(o) for o in enc["offset_mapping"]], spans)}


def _by_pieces(tokenizer, whole: str, spans: list[tuple[int, int]]) -> dict[str, list[int]]:
    ids, mask, at = [], [], 0
    for start, stop in [*spans, (len(whole), len(whole))]:
        for text, bit in ((whole[at:start], 0), (whole[start:stop], 1)):
            if text:
                piece = tokenizer(text, add_special_tokens=False)["input_ids"]
                ids += piece
                mask += [bit] * len(piece)
        at = stop
    if ids != list(tokenizer(whole, add_special_tokens=False)["input_ids"]):
        raise NotPrefixStable("the answers do not start and end on token boundaries: tokenized piece by piece, the "
                              "conversation gives other ids than tokenized whole")
    return {"input_ids": ids, "assistant_masks": mask}


def last_turn(tokenizer, messages: list[dict], tools: Any = None) -> dict[str, list[int]]:
    """`input_ids` and a mask on the last assistant turn only: prompt and completion tokenized as TRL does for a
    conversational prompt/completion row (the completion starts where the two tokenizations diverge)."""
    from trl.data_utils import common_prefix_length

    pc = last_turn_as_completion({"messages": messages})
    prompt = tokenizer.apply_chat_template(pc["prompt"], tools=tools, tokenize=True, return_dict=True,
                                           add_generation_prompt=True)["input_ids"]
    ids = list(tokenizer.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=True)["input_ids"])
    n = common_prefix_length(list(prompt), ids)
    return {"input_ids": ids, "assistant_masks": [0] * n + [1] * (len(ids) - n)}


# --- the rule for a dataset ------------------------------------------------------------------------------------------

@dataclass
class LossMask:
    """How an SFT dataset of format `fmt` is masked with this tokenizer: the SFTConfig settings, the row transform
    (`prepare`), and the rule in words (`text`, complete once the rows were prepared)."""

    fmt: str
    tokenizer: Any
    completion_only_loss: bool = True
    mode: str = field(init=False)
    config: dict[str, Any] = field(init=False, default_factory=dict)
    rows: int = field(init=False, default=0)              # conversations prepared turn by turn
    last_only: int = field(init=False, default=0)         # of them, rows that fell back to their last turn
    reason: str = field(init=False, default="")           # why the first of those fell back

    def __post_init__(self) -> None:
        if self.fmt == "messages" and self.completion_only_loss:
            if has_assistant_mask(self.tokenizer):
                self.mode, self.config = "markers", {"assistant_only_loss": True}
            else:
                self.mode = "turns"
        elif self.fmt == "prompt_completion":
            self.mode, self.config = "completion", {"completion_only_loss": self.completion_only_loss}
        else:
            self.mode = "whole"

    @property
    def text(self) -> str:
        if self.mode == "markers":
            return MARKERS
        if self.mode == "turns":
            if self.rows and self.last_only == self.rows:
                return f"last assistant turn (no generation markers, and the chat template is not prefix-stable: " \
                       f"{self.reason})"
            if self.last_only:
                return (f"{TURNS}; {self.last_only} of {self.rows} rows train only their last assistant turn: "
                        f"{self.reason}")
            return TURNS
        if self.mode == "completion":
            return "completion tokens" if self.completion_only_loss else "whole sequence"
        if self.fmt == "text" and self.completion_only_loss:
            return "whole sequence (plain text has no completion to mask)"
        return "whole sequence"

    @property
    def cut(self) -> str:
        """Where a row's trained tokens start, for a row truncation leaves without any."""
        if self.mode in ("markers", "turns"):
            return "its first trained assistant answer starts past it"
        if self.mode == "completion":
            return "its prompt fills it"
        return "the row is empty"

    def prepare(self, ds):
        """The rows as TRL should receive them (a `datasets.Dataset`, or None): conversations tokenized turn by
        turn with their assistant masks; other formats unchanged."""
        if ds is None or self.mode != "turns":
            return ds
        tok, specials = self.tokenizer, special_tokens(self.tokenizer)
        first: list[str] = []

        def one(row: dict) -> dict:
            tools = row.get("tools")
            tools = json.loads(tools) if isinstance(tools, str) else tools  # as TRL reads a tools column
            try:
                out = turn_by_turn(tok, row["messages"], tools, specials)
                stable = True
            except NotPrefixStable as exc:
                if not first:
                    first.append(str(exc))
                out, stable = last_turn(tok, row["messages"], tools), False
            return {**out, "_turn_by_turn": stable}

        out = ds.map(one, remove_columns=ds.column_names, desc="Masking every assistant turn")
        flags = out["_turn_by_turn"]
        self.rows += len(flags)
        self.last_only += sum(1 for f in flags if not f)
        if first and not self.reason:
            self.reason = first[0]
        elif not self.reason and self.last_only:  # a cached map: find the reason again
            for row, f in zip(ds, flags):
                if not f:
                    try:
                        tools = row.get("tools")
                        turn_by_turn(tok, row["messages"], json.loads(tools) if isinstance(tools, str) else tools,
                                     specials)
                    except NotPrefixStable as exc:
                        self.reason = str(exc)
                    break
        return out.remove_columns("_turn_by_turn")
