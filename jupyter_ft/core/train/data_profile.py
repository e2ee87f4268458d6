"""How long the training sequences of a dataset really are, measured at submission without torch.

Auto-sizing needs two numbers from the data: the length to truncate at (`max_length`: long enough for nearly every
row, not a blanket 1024 that pads a 100-token chat to ten times its size in memory) and the tokens one optimizer step
processes (to turn a time budget into steps). The sample's sequences are rendered with the model's own chat template
(jinja2, as `apply_chat_template` does) and counted with its `tokenizer.json` (the `tokenizers` library), so the
figures are the model's token counts; without a local tokenizer they are estimated from characters.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHARS_PER_TOKEN = 3.5   # English prose with a modern BPE vocabulary: an estimate used only without a tokenizer
SAMPLE_ROWS = 512
MIN_LENGTH, ROUND_TO = 64, 32


@dataclass(frozen=True)
class DataProfile:
    sequences: int        # sequences measured (a preference row gives two: prompt + chosen, prompt + rejected)
    per_row: int          # sequences per row as the trainer sees it
    mean: float           # tokens per sequence
    p99: int
    longest: int
    how: str              # "measured with the model's tokenizer and chat template" | "estimated from characters"

    def max_length(self, ceiling: int) -> int:
        """The p99 length rounded up to a multiple of 32, at least 64, at most `ceiling` (the model's context)."""
        n = max(MIN_LENGTH, ROUND_TO * math.ceil(self.p99 / ROUND_TO))
        return min(n, ceiling)


def _texts(row: dict[str, Any], kind: str) -> list[list[dict[str, str]] | str]:
    """The sequences the trainer tokenizes for one stored row (conversations or plain strings)."""
    def join(a: Any, b: Any) -> Any:
        if isinstance(a, list) and isinstance(b, list):
            return [*a, *b]
        return f"{a if isinstance(a, str) else ''}{b if isinstance(b, str) else ''}"

    if kind == "preference":
        prompt = row.get("prompt")
        if prompt is None:
            return [row["chosen"], row["rejected"]]
        return [join(prompt, row["chosen"]), join(prompt, row["rejected"])]
    if "messages" in row:
        return [row["messages"]]
    if "prompt" in row and "completion" in row:
        return [join(row["prompt"], row["completion"])]
    if "text" in row:
        return [row["text"]]
    if "prompt" in row:
        return [row["prompt"]]
    return []


def _template(folder: Path) -> str | None:
    f = folder / "chat_template.jinja"
    if f.is_file():
        return f.read_text()
    try:
        cfg = json.loads((folder / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return None
    t = cfg.get("chat_template") if isinstance(cfg, dict) else None
    if isinstance(t, list):  # named templates: the default one
        t = next((x.get("template") for x in t if isinstance(x, dict) and x.get("name") == "default"), None)
    return t if isinstance(t, str) else None


def _generation_tag():
    """`{% generation %}…{% endgeneration %}` (the assistant-mask markers of training templates), rendered as its body."""
    from jinja2 import nodes
    from jinja2.ext import Extension

    class Generation(Extension):
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return Generation


def _renderer(folder: Path):
    """A function rendering a conversation with the model's chat template (None without a usable template)."""
    source = _template(folder)
    if not source:
        return None
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(msg: str) -> None:
        raise ValueError(msg)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=["jinja2.ext.loopcontrols", _generation_tag()])
    env.globals["raise_exception"] = raise_exception
    env.filters["tojson"] = lambda x, **kw: json.dumps(x, **{k: v for k, v in kw.items() if k == "indent"})
    try:
        template = env.from_string(source)
    except TemplateError:
        return None
    return lambda messages: template.render(messages=messages, add_generation_prompt=False, bos_token="",
                                            eos_token="")


def _tokenizer(folder: Path):
    f = folder / "tokenizer.json"
    if not f.is_file():
        return None
    try:
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(f))
    except Exception:  # a tokenizer.json this version of `tokenizers` cannot read: estimate instead
        return None


def _plain(seq: list[dict[str, str]] | str) -> str:
    if isinstance(seq, str):
        return seq
    return "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in seq if isinstance(m, dict))


def measure(rows: list[dict[str, Any]], kind: str, model_folder: Path | None) -> DataProfile | None:
    """Token lengths of the sequences of `rows` (None when the rows give none)."""
    seqs = [s for r in rows for s in _texts(r, kind)]
    if not seqs:
        return None
    per_row = max(1, len(seqs) // max(1, len(rows)))
    tok = _tokenizer(model_folder) if model_folder else None
    render = _renderer(model_folder) if (tok and model_folder) else None
    lengths: list[int] = []
    if tok is not None:
        texts = []
        for s in seqs:
            if isinstance(s, list) and render is not None:
                try:
                    texts.append(render(s))
                    continue
                except Exception:  # a template needing more than jinja2 gives: count the plain text
                    pass
            texts.append(_plain(s))
        lengths = [len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False)]
        how = "measured with the model's tokenizer" + (" and chat template" if render else "")
    else:
        lengths = [math.ceil(len(_plain(s)) / CHARS_PER_TOKEN) + 4 * (len(s) if isinstance(s, list) else 0)
                   for s in seqs]
        how = f"estimated from characters (~{CHARS_PER_TOKEN:g} a token; no local tokenizer.json)"
    lengths.sort()
    p99 = lengths[min(len(lengths) - 1, math.ceil(0.99 * len(lengths)) - 1)]
    return DataProfile(len(lengths), per_row, sum(lengths) / len(lengths), p99, lengths[-1], how)


def profile(version: Any, kind: str, model_folder: Path | None, limit: int = SAMPLE_ROWS) -> DataProfile | None:
    """Profile of a catalog version's train split, from its first `limit` rows."""
    try:
        rows = version.rows(0, limit, split="train")
    except (OSError, ValueError):
        return None
    return measure(rows, kind, model_folder)
