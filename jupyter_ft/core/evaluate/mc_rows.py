"""Multiple-choice rows: which shapes are known, and the check that names the row.

Why here and not as a catalog kind: the catalog already takes these files as its `prompt` kind (the question
column becomes `prompt` through its aliases and every other column, `choices`, `A`..`D`, `answer`, `subject`, is
kept as it is), so benchmark files come through the one door unchanged. What is specific to multiple choice (an
answer that is an index or a letter among the choices) is checked here, at submission and again in the job, with
the row number, the same way for every face. Pure Python: the submission path imports no torch.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, Iterable

LETTERS = string.ascii_uppercase
QUESTION_COLUMNS = ("question", "prompt", "query", "problem")
SHAPES = ("question + choices (a list) + answer (index or letter)",
          "question + A, B, C, D (more letters allowed) + answer (letter): the MMLU CSV form",
          "an optional subject column gives a per-subject breakdown")


class MCShapeError(ValueError):
    """Rows that are not multiple choice, or a row whose answer is not among its choices (the message names it)."""


@dataclass(frozen=True)
class MCQuestion:
    index: int                # position in the scored split (0-based)
    question: str
    choices: tuple[str, ...]
    answer: int
    subject: str | None


@dataclass(frozen=True)
class MCLayout:
    question: str
    choices: str | tuple[str, ...]   # a list column, or letter columns A, B, C, ...
    answer: str
    subject: str | None


def _text(value: Any) -> str:
    if isinstance(value, list):  # a conversational prompt: the last user message is the question
        users = [m.get("content", "") for m in value if isinstance(m, dict) and m.get("role") == "user"]
        return str(users[-1]) if users else ""
    return "" if value is None else str(value)


def layout(columns: Iterable[str], mapping: dict[str, str] | None = None, subject: str | None = "subject",
           where: str = "dataset") -> MCLayout:
    """Decide which columns hold question, choices, answer and subject; `MCShapeError` lists the known shapes."""
    cols = list(columns)
    m = dict(mapping or {})
    missing = [f"{k} -> {v!r}" for k, v in m.items() if v not in cols]
    if missing:
        raise MCShapeError(f"{where}: mapping names columns it does not have ({', '.join(missing)}); columns: {cols}")
    question = m.get("question") or next((c for c in QUESTION_COLUMNS if c in cols), None)
    answer = m.get("answer") or ("answer" if "answer" in cols else None)
    choices: str | tuple[str, ...] | None = m.get("choices")
    if choices is None:
        if "choices" in cols:
            choices = "choices"
        else:
            letters = []
            for ch in LETTERS:
                if ch not in cols:
                    break
                letters.append(ch)
            choices = tuple(letters) if len(letters) >= 2 else None
    if not (question and answer and choices):
        raise MCShapeError(
            f"{where} has columns {cols}, not a multiple-choice shape. Known shapes: " + "; ".join(SHAPES) +
            ". Name the columns with mapping={'question': ..., 'choices': ..., 'answer': ...} on the evaluator")
    subj = m.get("subject") or (subject if subject and subject in cols else None)
    return MCLayout(question, choices, answer, subj)


def _answer_index(value: Any, n: int, letters: bool) -> int | str:
    """The 0-based answer index, or a message saying what is wrong."""
    if isinstance(value, bool) or value is None:
        return f"answer {value!r} is neither an index nor a letter"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if 0 <= value < n else f"answer index {value} is out of range for {n} choices (0..{n - 1})"
    text = str(value).strip()
    if text.isdigit():
        i = int(text)
        return i if 0 <= i < n else f"answer index {i} is out of range for {n} choices (0..{n - 1})"
    if len(text) == 1 and text.upper() in LETTERS:
        i = LETTERS.index(text.upper())
        return i if i < n else f"answer {text!r} is not among the choices {LETTERS[0]}..{LETTERS[n - 1]}"
    return f"answer {text[:40]!r} is neither an index (0..{n - 1}) nor a letter ({LETTERS[0]}..{LETTERS[n - 1]})"


def parse_row(i: int, row: dict[str, Any], lay: MCLayout, where: str = "dataset") -> MCQuestion:
    """One row as a question; `MCShapeError` names the row (1-based) and its question."""
    q = _text(row.get(lay.question)).strip()
    label = f"{where} row {i + 1}" + (f" ({q[:60]!r})" if q else "")
    if not q:
        raise MCShapeError(f"{label}: the question ({lay.question!r}) is empty")
    if isinstance(lay.choices, tuple):
        choices = [row.get(c) for c in lay.choices]
        while choices and (choices[-1] is None or str(choices[-1]).strip() == ""):
            choices.pop()  # fewer options than letter columns
    else:
        choices = row.get(lay.choices)
        if not isinstance(choices, (list, tuple)):
            raise MCShapeError(f"{label}: {lay.choices!r} must be a list of choices, got {type(choices).__name__}")
    choices = [str(c) if c is not None else "" for c in choices]
    if len(choices) < 2:
        raise MCShapeError(f"{label}: needs at least two choices, got {len(choices)}")
    if any(not c.strip() for c in choices):
        raise MCShapeError(f"{label}: choice {next(j for j, c in enumerate(choices) if not c.strip())} is empty")
    a = _answer_index(row.get(lay.answer), len(choices), isinstance(lay.choices, tuple))
    if isinstance(a, str):
        raise MCShapeError(f"{label}: {a}")
    subject = str(row.get(lay.subject)) if lay.subject and row.get(lay.subject) is not None else None
    return MCQuestion(i, q, tuple(choices), a, subject)


def parse_rows(rows: Iterable[dict[str, Any]], lay: MCLayout, where: str = "dataset",
               max_report: int = 5) -> list[MCQuestion]:
    """Every row as a question; one `MCShapeError` lists the first bad rows (and how many there are)."""
    out: list[MCQuestion] = []
    bad: list[str] = []
    count = 0
    for i, row in enumerate(rows):
        try:
            out.append(parse_row(i, row, lay, where))
        except MCShapeError as exc:
            count += 1
            if len(bad) < max_report:
                bad.append(str(exc))
    if count:
        more = f" (and {count - len(bad)} more)" if count > len(bad) else ""
        raise MCShapeError(f"{count} bad multiple-choice row(s): " + "; ".join(bad) + more)
    return out
