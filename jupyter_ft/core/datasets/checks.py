"""Checks of every row, vectorised over Arrow columns, and the report that names rows and counts reasons.

The checks agree with `formats.check_row` (the per-row reference) and add a length limit; they run on the
converted columns (see `convert`), so they see exactly what TRL will see. A `Report` keeps a count per
reason and the first rows with a problem, each with its row number, field and a specific message.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable

from jupyter_ft.core.datasets.formats import ROLES

ROLE_LIST = sorted(ROLES)


@dataclass
class Problem:
    reason: str                                   # what is counted, e.g. "'chosen' and 'rejected' are identical"
    field: str | None                             # the field (or column) at fault
    mask: Any                                     # numpy bool array over the batch's rows
    detail: Callable[[int], str | None] | None = None  # a specific message for one row (used for the examples)


def check_table(table, plan, max_chars: int | None) -> list[Problem]:
    """Problems of converted rows (nulls are left to the conversion's own 'missing' problems)."""
    import numpy as np
    import pyarrow.compute as pc

    n = table.num_rows
    problems: list[Problem] = []
    chars = np.zeros(n, np.int64)
    fields = (["prompt"] if plan.implicit else []) + list(plan.fields)
    for f in fields:
        col = table.column(f).combine_chunks()
        if plan.implicit and f == "prompt" or plan.fields[f].out == "messages":
            problems += _message_checks(col, f, chars, sft=plan.format == "messages")
        else:
            blank = pc.fill_null(pc.invert(pc.match_substring_regex(col, r"\S")), False).to_numpy(zero_copy_only=False)
            if blank.any():
                problems.append(Problem(f"'{f}' is empty", f, blank, lambda i, f=f: f"'{f}' is empty"))
            chars += pc.fill_null(pc.utf8_length(col), 0).to_numpy(zero_copy_only=False)
    if plan.kind == "preference" and not plan.implicit:  # implicit rows were compared when the prompt was split off
        same = _same(table.column("chosen").combine_chunks(), table.column("rejected").combine_chunks())
        if same.any():
            problems.append(Problem("'chosen' and 'rejected' are identical", "rejected", same))
    if max_chars:
        long = chars > max_chars
        if long.any():
            problems.append(Problem(f"longer than {max_chars} characters", None, long,
                                    lambda i: f"{chars[i]} characters of text, more than max_chars={max_chars}"))
    return problems


def _message_checks(col, f: str, chars, sft: bool) -> list[Problem]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    out: list[Problem] = []
    n = len(col)
    off = col.offsets.to_numpy()
    lens = np.diff(off)
    valid = np.asarray(col.is_valid())
    empty = valid & (lens == 0)
    if empty.any():
        out.append(Problem(f"'{f}' has no messages", f, empty, lambda i: f"'{f}' is an empty list of messages"))
    if not len(col.values):
        return out
    parent = np.repeat(np.arange(n), lens)
    role = pc.struct_field(col.values, "role")
    content = pc.struct_field(col.values, "content")
    bad_role = pc.fill_null(pc.invert(pc.is_in(role, value_set=pa.array(ROLE_LIST))), True).to_numpy(zero_copy_only=False)
    if bad_role.any():
        rows = np.zeros(n, bool)
        rows[parent[bad_role]] = True

        def role_detail(i: int) -> str:
            j = int(np.argmax(bad_role[off[i]:off[i + 1]]))
            return f"'{f}'[{j}].role must be one of {', '.join(ROLE_LIST)}; got {role[off[i] + j].as_py()!r}"

        out.append(Problem(f"'{f}' has a message whose role is not one of {', '.join(ROLE_LIST)}", f, rows, role_detail))
    no_text = np.asarray(content.is_null())
    if no_text.any():
        rows = np.zeros(n, bool)
        rows[parent[no_text]] = True

        def text_detail(i: int) -> str:
            j = int(np.argmax(no_text[off[i]:off[i + 1]]))
            return f"'{f}'[{j}].content is missing (must be a string)"

        out.append(Problem(f"'{f}' has a message without text content", f, rows, text_detail))
    sizes = pc.fill_null(pc.utf8_length(content), 0).to_numpy(zero_copy_only=False)
    chars += np.bincount(parent, weights=sizes, minlength=n).astype(np.int64)
    if sft:
        said = pc.and_(pc.equal(role, "assistant"), pc.match_substring_regex(content, r"\S"))
        said = pc.fill_null(said, False).to_numpy(zero_copy_only=False)
        has = np.bincount(parent[said], minlength=n) > 0
        silent = valid & ~empty & ~has
        if silent.any():
            out.append(Problem(f"'{f}' has no non-empty assistant message to learn from", f, silent,
                               lambda i: f"'{f}' has no non-empty assistant message to learn from"))
    return out


def _same(a, b):
    """Rows where two columns hold the same value (strings, or conversations compared turn by turn)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_list(a.type):
        a, b = _conversation_keys(a), _conversation_keys(b)
    return pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)


def _conversation_keys(col):
    """One string per conversation that differs whenever any role or content differs (normalized lists)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    v = col.values
    msg = pc.binary_join_element_wise(pc.fill_null(pc.struct_field(v, "role"), "\x00"),
                                      pc.fill_null(pc.struct_field(v, "content"), "\x00"), "\x1f")
    lists = pa.ListArray.from_arrays(col.offsets, msg, mask=col.is_null() if col.null_count else None)
    return pc.binary_join(lists, "\x1e")


class Report:
    """Counts per reason and the first `max_examples` rows with a problem, across all batches."""

    def __init__(self, max_examples: int = 10):
        self.max_examples = max_examples
        self.counts: Counter[str] = Counter()
        self.examples: list[dict[str, Any]] = []
        self.rows = 0
        self.invalid = 0

    def add(self, first_row: int, n: int, problems: list[Problem], lines: list[int] | None = None):
        """Record a batch's problems; returns the mask of its bad rows."""
        import numpy as np

        bad = np.zeros(n, bool)
        for p in problems:
            bad |= p.mask
            self.counts[p.reason] += int(p.mask.sum())
        need = self.max_examples - len(self.examples)
        if need > 0 and bad.any():
            for i in np.flatnonzero(bad)[:need]:
                p = next(p for p in problems if p.mask[i])
                row = first_row + int(i)
                line = lines[i] if lines and lines[i] != row else None
                msg = (p.detail(int(i)) if p.detail else None) or p.reason
                self.examples.append({"row": row, "line": line, "field": p.field, "reason": p.reason,
                                      "message": msg + (f" (line {line})" if line else "")})
        self.rows += n
        self.invalid += int(bad.sum())
        return bad

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "invalid_rows": self.invalid, "counts": dict(self.counts.most_common()),
                "examples": self.examples}

    def message(self, label: str, what: str) -> str:
        lines = [f"{label}: {self.invalid} of {self.rows} rows are invalid for {what}:"]
        lines += [f"  row {e['row']}: {e['message']}" for e in self.examples]
        if self.invalid > len(self.examples):
            lines.append(f"  ... and {self.invalid - len(self.examples)} more")
        lines.append("rows per reason: " + "; ".join(f"{r}: {c}" for r, c in self.counts.most_common()))
        lines.append("Fix the source, or pass drop_invalid=True to leave these rows out (the count is recorded).")
        return "\n".join(lines)
