"""Turn a batch of source rows into the exact columns TRL expects, vectorised with pyarrow where the source is Arrow.

Stored types: text fields are `string`; conversational fields are `list<struct<role: string, content: string>>`
with zero-length null entries and zero-based offsets (so `offsets`/`values` can be used directly by the checks).
Rows that cannot be converted (wrong type, unreadable, missing a field) come back as `Problem`s with the row's
index in the batch; their fields are null in the table.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_ft.core.datasets import shapes as S
from jupyter_ft.core.datasets import transcripts as T
from jupyter_ft.core.datasets.checks import Problem
from jupyter_ft.core.datasets.sources import Batch, RowError

_TYPES: dict[str, Any] = {}


def text_type():
    import pyarrow as pa

    return pa.string()


def message_type():
    import pyarrow as pa

    if "msg" not in _TYPES:
        _TYPES["msg"] = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    return _TYPES["msg"]


def out_type(out: str):
    return message_type() if out == S.MESSAGES else text_type()


class Converter:
    """Converts batches under one plan; remembers the types of kept extra columns so every batch agrees."""

    def __init__(self, plan: S.Plan):
        self.plan = plan
        self.extra_types: dict[str, Any] = {}
        self.notes: list[str] = []   # conversions discovered while reading (e.g. message keys dropped)

    def schema(self):
        import pyarrow as pa

        fields = [pa.field("prompt", message_type())] if self.plan.implicit else []
        fields += [pa.field(f, out_type(fp.out)) for f, fp in self.plan.fields.items()]
        fields += [pa.field(k, self.extra_types.get(k, pa.null())) for k in self.plan.extras]
        return pa.schema(fields)

    def convert(self, batch: Batch):
        """(canonical pyarrow.Table, [Problem]) for one batch."""
        if batch.table is not None:
            columns, problems = self._arrow(batch.table)
        else:
            columns, problems = self._python(batch.rows or [])
        if self.plan.implicit:
            split, more = extract_prompt(columns.pop("chosen"), columns.pop("rejected"))
            columns.update(split)
            problems += more
        import pyarrow as pa

        names = self.plan.columns
        return pa.Table.from_arrays([columns[c] for c in names], names=names), problems

    # --- Arrow batches: vectorised ---------------------------------------------------------------------------
    def _arrow(self, table):
        import numpy as np
        import pyarrow as pa

        n = table.num_rows
        problems: list[Problem] = []
        cols: dict[str, Any] = {}
        errs = np.zeros(n, bool)

        def src(name: str):
            if name not in table.column_names:
                return pa.nulls(n)
            c = table.column(name)
            return c.combine_chunks() if c.num_chunks != 1 else c.chunk(0)

        for f, fp in self.plan.fields.items():
            if isinstance(fp.source, tuple):  # Alpaca: instruction (+ input)
                arr, bad, why = _alpaca_prompt(*(src(c) for c in fp.source))
            elif fp.shape.startswith(S.SCORED):
                arr, bad, why = binarise(src(fp.source).to_pylist(), fp)
            elif fp.out == S.MESSAGES:
                arr, bad, why = self._messages_arrow(src(fp.source), fp)
            else:
                arr, bad, why = _text_arrow(src(fp.source), f)
            if bad is not None and bad.any():
                problems.append(Problem(f"'{f}' {why[0]}", f, bad, why[1]))
                errs |= bad
            cols[f] = arr
        for out, col in self.plan.extras.items():
            arr = src(col)
            want = self.extra_types.setdefault(out, arr.type)
            if arr.type != want:
                try:
                    arr = arr.cast(want)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    problems.append(Problem(f"'{out}' has a different type than in earlier rows", out,
                                            np.asarray(arr.is_valid()), lambda i, o=out, t=arr.type, w=want:
                                            f"'{o}' holds {t} here but {w} in earlier rows (mixed types across rows)"))
                    arr = pa.nulls(n, want)
            cols[out] = arr
        problems += _missing(cols, self.plan, errs, lambda i: [c for c in table.column_names if table.column(c)[i].is_valid])
        return cols, problems

    def _messages_arrow(self, arr, fp: S.FieldPlan):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        t = arr.type
        n = len(arr)
        if pa.types.is_null(t):
            return pa.nulls(n, message_type()), None, None
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            if fp.wrap_role:
                return wrap_messages(arr.cast(pa.string()), fp.wrap_role), None, None
            return self._messages_python(arr.to_pylist(), fp)
        if pa.types.is_struct(t) and t.get_field_index("messages") >= 0:  # OpenAI input: {"messages": [...], ...}
            arr = pc.struct_field(arr, "messages")
            t = arr.type
        if (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_struct(t.value_type):
            st = t.value_type
            names = [st.field(i).name for i in range(st.num_fields)]
            arr = normalize_lists(arr)
            kids = dict(zip(names, arr.values.flatten()))
            if "role" in kids and "content" in kids:
                role, content = kids["role"], kids["content"]
                extra = sorted(set(names) - {"role", "content"})
                if extra:
                    self._note(f"{fp.source!r}: message keys {extra} dropped (TRL reads role and content)")
            elif "from" in kids and "value" in kids:
                frm, content = kids["from"], kids["value"]
                keys = pa.array(list(S.SHAREGPT_ROLES))
                mapped = pc.take(pa.array(list(S.SHAREGPT_ROLES.values())), pc.index_in(frm.cast(pa.string()), keys))
                role = pc.if_else(pc.is_valid(mapped), mapped, frm.cast(pa.string()))
            else:
                bad = np.asarray(arr.is_valid())
                return pa.nulls(n, message_type()), bad, ("must be a list of {role, content} messages",
                                                          lambda i: f"'{fp.target}' messages have keys {names}, not role/content")
            bad_kind = None
            for what, kid in (("role", role), ("content", content)):
                if not (pa.types.is_string(kid.type) or pa.types.is_large_string(kid.type) or pa.types.is_null(kid.type)):
                    bad_kind = (what, kid.type)
            if bad_kind:
                bad = np.asarray(arr.is_valid())
                what, ty = bad_kind
                return pa.nulls(n, message_type()), bad, (f"has messages whose {what} is not a string",
                                                          lambda i: f"'{fp.target}' messages' {what} must be a string, got {ty}")
            values = pa.StructArray.from_arrays([role.cast(pa.string()), content.cast(pa.string())], names=["role", "content"])
            out = pa.ListArray.from_arrays(arr.offsets, values, type=message_type(), mask=arr.is_null() if arr.null_count else None)
            return out, None, None
        bad = np.asarray(arr.is_valid())
        return pa.nulls(n, message_type()), bad, ("must be a list of {role, content} messages",
                                                  lambda i: f"'{fp.target}' must be a list of {{role, content}} messages, got {t}")

    def _messages_python(self, values: list[Any], fp: S.FieldPlan):
        import numpy as np
        import pyarrow as pa

        out: list[Any] = []
        why: dict[int, str] = {}
        style = fp.shape.removeprefix(T.PREFIX) if fp.shape.startswith(T.PREFIX) else None
        for i, v in enumerate(values):
            m, err = coerce_messages(v, fp.wrap_role, style)
            out.append(m)
            if err:
                why[i] = f"'{fp.target}' {err}"
        bad = np.zeros(len(values), bool)
        bad[list(why)] = True
        return normalize_lists(pa.array(out, type=message_type())), bad, ("is not a list of {role, content} messages",
                                                                          why.get)

    # --- Python rows (the slow path) ---------------------------------------------------------------------
    def _python(self, rows: list[Any]):
        import numpy as np
        import pyarrow as pa

        n = len(rows)
        problems: list[Problem] = []
        unreadable = np.array([isinstance(r, RowError) for r in rows], bool)
        for fld in {r.field for r in rows if isinstance(r, RowError)}:
            mask = np.array([isinstance(r, RowError) and r.field == fld for r in rows], bool)
            problems.append(Problem("row cannot be read", fld, mask, lambda i: rows[i].message))
        dicts = [r if isinstance(r, dict) else {} for r in rows]
        cols: dict[str, Any] = {}
        errs = unreadable.copy()
        for f, fp in self.plan.fields.items():
            if isinstance(fp.source, tuple):
                arrs = []
                for c in fp.source:
                    vals, bad, why = _texts_python([d.get(c) for d in dicts], c)
                    arrs.append(vals)
                    if bad.any():
                        problems.append(Problem(f"'{c}' must be a string", c, bad, why.get))
                        errs |= bad
                arr, _, _ = _alpaca_prompt(*arrs)
            elif fp.shape.startswith(S.SCORED):
                arr, bad, (reason, why) = binarise([d.get(fp.source) for d in dicts], fp)
                if bad.any():
                    problems.append(Problem(f"'{f}' {reason}", f, bad, why))
                    errs |= bad
            elif fp.out == S.MESSAGES:
                arr, bad, (reason, why) = self._messages_python([d.get(fp.source) for d in dicts], fp)
                if bad.any():
                    problems.append(Problem(f"'{f}' {reason}", f, bad, why))
                    errs |= bad
            else:
                arr, bad, why = _texts_python([d.get(fp.source) for d in dicts], f)
                if bad.any():
                    problems.append(Problem(f"'{f}' must be a string", f, bad, why.get))
                    errs |= bad
            cols[f] = arr
        for out, col in self.plan.extras.items():
            vals = [d.get(col) for d in dicts]
            want = self.extra_types.get(out)
            try:
                arr = pa.array(vals, type=want) if want is not None else pa.array(vals)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
                arr, bad = _mixed_python(vals, want)
                problems.append(Problem(f"'{out}' has values of different types", out, bad,
                                        lambda i, o=out, v=vals, w=arr.type: f"'{o}' holds {type(v[i]).__name__} here "
                                        f"but {w} in other rows (mixed types across rows)"))
            self.extra_types.setdefault(out, arr.type)
            cols[out] = arr
        problems += _missing(cols, self.plan, errs, lambda i: sorted(dicts[i]))
        return cols, problems

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _mixed_python(vals: list[Any], want):
    """Values of a kept column whose Python types differ: keep the ones of the column's type, flag the others."""
    import numpy as np
    import pyarrow as pa

    if want is None:
        first = next((v for v in vals if v is not None), None)
        want = pa.array([first]).type if first is not None else pa.null()
    ok, bad = [], np.zeros(len(vals), bool)
    for i, v in enumerate(vals):
        try:
            pa.array([v], type=want)
            ok.append(v)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            ok.append(None)
            bad[i] = True
    return pa.array(ok, type=want), bad


def _missing(cols: dict[str, Any], plan: S.Plan, errs, row_columns) -> list[Problem]:
    """Rows whose field is null without another reason: the column is absent from that row (mixed schemas)."""
    import numpy as np

    out = []
    for f in plan.fields:
        col = cols[f]
        if not col.null_count:
            continue
        miss = np.asarray(col.is_null()) & ~errs
        if miss.any():
            src = plan.fields[f].source

            def detail(i: int, f=f, src=src) -> str:
                has = row_columns(i)
                named = f"'{f}'" + (f" (column {src!r})" if src != f else "")
                return f"{named} is missing" + (f"; this row has {has}" if has else "; this row is empty")

            out.append(Problem(f"'{f}' is missing", f, miss, detail))
    return out


def _text_arrow(arr, f: str):
    import numpy as np
    import pyarrow as pa

    t = arr.type
    if pa.types.is_string(t):
        return arr, None, None
    if pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
        return arr.cast(pa.string()), None, None
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string()), None, None
    bad = np.asarray(arr.is_valid())
    return pa.nulls(len(arr), pa.string()), bad, ("must be a string", lambda i: f"'{f}' must be a string, got {t}")


def _texts_python(values: list[Any], f: str):
    import numpy as np
    import pyarrow as pa

    why: dict[int, str] = {}
    out = []
    for i, v in enumerate(values):
        if v is None or isinstance(v, str):
            out.append(v)
        else:
            out.append(None)
            why[i] = f"'{f}' must be a string, got {type(v).__name__}"
    bad = np.zeros(len(values), bool)
    bad[list(why)] = True
    return pa.array(out, type=pa.string()), bad, why


def _alpaca_prompt(instruction, inp=None):
    """instruction, or instruction + blank line + input when the input is not empty (the Alpaca convention)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    instruction = _text_arrow(instruction, "instruction")[0]
    if inp is None:
        return instruction, None, None
    inp = _text_arrow(inp, "input")[0]
    has = pc.fill_null(pc.match_substring_regex(inp, r"\S"), False)
    joined = pc.binary_join_element_wise(instruction, inp, "\n\n")
    return pc.if_else(has, joined, instruction).cast(pa.string()), None, None


def coerce_messages(v: Any, wrap_role: str | None, transcript: str | None = None) -> tuple[list[dict] | None, str | None]:
    """A Python value as a list of {role, content} (or None), and what is wrong with it."""
    if v is None:
        return None, None
    if isinstance(v, dict) and isinstance(v.get("messages"), list):  # OpenAI input
        v = v["messages"]
    if isinstance(v, str):
        if wrap_role:
            return [{"role": wrap_role, "content": v}], None
        if transcript:
            return T.parse(v, transcript)
        s = v.strip()
        if not s.startswith("["):
            return None, "must be a list of {role, content} messages, got str"
        try:
            v = json.loads(s)
        except ValueError as exc:
            return None, f"is text that is not valid JSON ({exc.msg} at column {exc.colno})"
    if not isinstance(v, (list, tuple)):
        return None, f"must be a list of {{role, content}} messages, got {type(v).__name__}"
    out = []
    for j, m in enumerate(v):
        if not isinstance(m, dict):
            return None, f"[{j}] must be a {{role, content}} mapping, got {type(m).__name__}"
        if "from" in m and "role" not in m:
            role, content = S.SHAREGPT_ROLES.get(m["from"], m["from"]), m.get("value")
        else:
            role, content = m.get("role"), m.get("content")
        if role is not None and not isinstance(role, str):
            return None, f"[{j}].role must be a string, got {type(role).__name__}"
        if content is not None and not isinstance(content, str):
            return None, f"[{j}].content must be a string, got {type(content).__name__}"
        out.append({"role": role, "content": content})
    return out, None


def normalize_lists(arr):
    """The same list array with zero-based offsets and zero-length null entries (so offsets index `values`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_large_list(arr.type):
        arr = arr.cast(pa.list_(arr.type.value_type))
    offsets = arr.offsets
    if arr.null_count == 0 and offsets[0].as_py() == 0 and len(arr.values) == offsets[len(arr)].as_py():
        return arr
    lens = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False)
    off = np.zeros(len(arr) + 1, np.int32)
    np.cumsum(lens, out=off[1:])
    return pa.ListArray.from_arrays(pa.array(off), pc.list_flatten(arr), type=arr.type,
                                    mask=arr.is_null() if arr.null_count else None)


def wrap_messages(text, role: str):
    """Each string as a one-message conversation of `role` (null stays null)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    valid = np.asarray(text.is_valid())
    off = np.zeros(len(text) + 1, np.int32)
    np.cumsum(valid, out=off[1:])
    content = pc.filter(text, pa.array(valid)) if text.null_count else text
    values = pa.StructArray.from_arrays([pa.array([role] * len(content), pa.string()), content], names=["role", "content"])
    return pa.ListArray.from_arrays(pa.array(off), values, type=message_type(),
                                    mask=pa.array(~valid) if text.null_count else None)


def _message_keys(arr):
    """One string per message (role + content), aligned with `arr.values` (normalized lists)."""
    import pyarrow.compute as pc

    v = arr.values
    return pc.binary_join_element_wise(pc.fill_null(pc.struct_field(v, "role"), ""),
                                       pc.fill_null(pc.struct_field(v, "content"), ""), "\x1f")


def extract_prompt(chosen, rejected):
    """Split implicit-prompt preference rows: the leading turns `chosen` and `rejected` share become `prompt`.

    Matches TRL's `extract_prompt` on every row it accepts; rows TRL would split oddly (no shared turn, one answer
    continuing the other, answers that do not start with an assistant turn) are reported instead.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(chosen)
    c_off = chosen.offsets.to_numpy()
    r_off = rejected.offsets.to_numpy()
    c_len, r_len = np.diff(c_off), np.diff(r_off)
    valid = np.asarray(chosen.is_valid()) & np.asarray(rejected.is_valid())
    m = np.where(valid, np.minimum(c_len, r_len), 0)
    ck, rk = _message_keys(chosen), _message_keys(rejected)
    p = np.zeros(n, np.int64)
    active = m > 0
    j = 0
    while active.any():
        rows = np.flatnonzero(active)
        eq = pc.fill_null(pc.equal(ck.take(pa.array(c_off[rows] + j)), rk.take(pa.array(r_off[rows] + j))), False)
        eq = eq.to_numpy(zero_copy_only=False)
        p[rows[eq]] += 1
        active[rows[~eq]] = False
        j += 1
        active &= j < m
    problems: list[Problem] = []
    same = valid & (p == m) & (c_len == r_len)
    prefix = valid & (p == m) & (c_len != r_len)
    none = valid & (p == 0) & (m > 0)
    roles = pc.struct_field(chosen.values, "role")
    r_roles = pc.struct_field(rejected.values, "role")
    first_c = np.where(valid & (p < c_len), c_off[:-1] + p, 0)
    first_r = np.where(valid & (p < r_len), r_off[:-1] + p, 0)
    not_asst = valid & ~same & ~prefix & ~none & (
        (pc.fill_null(pc.not_equal(roles.take(pa.array(first_c)), "assistant"), True).to_numpy(zero_copy_only=False)
         if len(roles) else np.ones(n, bool))
        | (pc.fill_null(pc.not_equal(r_roles.take(pa.array(first_r)), "assistant"), True).to_numpy(zero_copy_only=False)
           if len(r_roles) else np.ones(n, bool)))
    for mask, reason, field in (
        (same, "'chosen' and 'rejected' are identical", "chosen"),
        (prefix, "one of 'chosen'/'rejected' only continues the other (no differing answer)", "rejected"),
        (none, "'chosen' and 'rejected' share no leading turn to use as the prompt", "chosen"),
        (not_asst, "after the shared prompt, 'chosen' and 'rejected' must go on with an assistant turn", "chosen"),
    ):
        if mask.any():
            problems.append(Problem(reason, field, mask))
    ok = valid & ~(same | prefix | none | not_asst)
    p = np.where(ok, p, 0)
    prompt = _take_ranges(chosen, c_off[:-1], p, ok)
    c_rest = _take_ranges(chosen, c_off[:-1] + p, np.where(ok, c_len - p, 0), ok)
    r_rest = _take_ranges(rejected, r_off[:-1] + p, np.where(ok, r_len - p, 0), ok)
    return {"prompt": prompt, "chosen": c_rest, "rejected": r_rest}, problems


def _take_ranges(arr, starts, lengths, valid):
    """A list array of `arr.values[starts[i] : starts[i] + lengths[i]]` per row; rows not `valid` are null."""
    import numpy as np
    import pyarrow as pa

    lengths = np.where(valid, lengths, 0).astype(np.int64)
    off = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=off[1:])
    idx = np.repeat(starts - off[:-1], lengths) + np.arange(off[-1])
    values = arr.values.take(pa.array(idx, pa.int64()))
    return pa.ListArray.from_arrays(pa.array(off.astype(np.int32)), values, type=message_type(),
                                    mask=pa.array(~valid) if not valid.all() else None)


def binarise(values: list[Any], fp: S.FieldPlan):
    """Scored completion lists -> the best (`chosen`) or worst (`rejected`) completion's text. Rows without two
    different scores have no pair: reported on `rejected`, never dropped silently."""
    import numpy as np
    import pyarrow as pa

    _, text_key, score_key = fp.shape.split(":", 2)
    best = fp.target == "chosen"
    out: list[Any] = []
    why: dict[int, str] = {}
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        scored = [(c.get(score_key), c.get(text_key)) for c in v if isinstance(c, dict)]
        scored = [(float(sc), t) for sc, t in scored if isinstance(sc, (int, float)) and isinstance(t, str)]
        if len(scored) < 2 or max(sc for sc, _ in scored) == min(sc for sc, _ in scored):
            out.append(max(scored, key=lambda x: x[0])[1] if best and scored else None)
            if not best:  # the row is reported once, on `rejected`
                why[i] = (f"'{fp.source}' has {len(scored)} scored completion(s)" + (
                    f", all scoring {scored[0][0]:g}" if scored else "") + ": no chosen/rejected pair")
            continue
        pick = max(scored, key=lambda x: x[0]) if best else min(scored, key=lambda x: x[0])
        out.append(pick[1])
    bad = np.zeros(len(values), bool)
    bad[list(why)] = True
    arr = pa.array(out, type=pa.string())
    if fp.out == S.MESSAGES:
        arr = wrap_messages(arr, "assistant")
    return arr, bad, ("has no pair of differently scored completions", why.get)
