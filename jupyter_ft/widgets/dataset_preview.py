"""A paged preview of any dataset: catalog versions, local files, `datasets.Dataset`s, DataFrames.

Only the page on screen is read (see `core.datasets.pages`), so a dataset of any size previews in constant memory.
Conversations render as turns; preference rows show the prompt above `chosen` and `rejected` side by side.

    from jupyter_ft.widgets.dataset_preview import DatasetPreview
    DatasetPreview("human-like", page_size=5)          # or ft.ui.datasets("human-like")
"""

from __future__ import annotations

import html
import json
from typing import Any

import ipywidgets as widgets

from jupyter_ft.core.datasets.pages import Pager, pager_for

MAX_CHARS = 2000  # characters of one value shown before "… (N more)"

CSS = """<style>
.jft-ds {font-size: 13px}
.jft-ds table {border-collapse: collapse; width: 100%}
.jft-ds td, .jft-ds th {border: 1px solid #ddd; padding: 4px 6px; vertical-align: top; text-align: left}
.jft-ds .jft-text {white-space: pre-wrap; word-break: break-word}
.jft-ds .jft-turn {margin: 2px 0; padding: 3px 6px; border-radius: 6px; background: #f4f4f4; white-space: pre-wrap}
.jft-ds .jft-turn.jft-user {background: #e8f0fe}
.jft-ds .jft-turn.jft-assistant {background: #eef7ee}
.jft-ds .jft-turn.jft-system {background: #fff7e0}
.jft-ds .jft-pair {display: grid; grid-template-columns: 1fr 1fr; gap: 8px; margin-top: 4px}
.jft-ds .jft-chosen {border-left: 4px solid #2e7d32; padding-left: 6px}
.jft-ds .jft-rejected {border-left: 4px solid #c62828; padding-left: 6px}
.jft-ds .jft-prow {border: 1px solid #ddd; border-radius: 6px; padding: 6px; margin-bottom: 8px}
</style>"""


def _text(s: str) -> str:
    more = len(s) - MAX_CHARS
    shown = html.escape(s[:MAX_CHARS]) + (f"<i>… ({more} more characters)</i>" if more > 0 else "")
    return f"<span class='jft-text'>{shown}</span>"


def _is_conversation(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(m, dict) and "role" in m for m in v)


def render_value(v: Any) -> str:
    """One value as HTML: a conversation as turns, text as text, anything else as JSON (always escaped)."""
    if v is None:
        return "<i>null</i>"
    if _is_conversation(v):
        return "".join(f"<div class='jft-turn jft-{html.escape(str(m.get('role')))}'><b>{html.escape(str(m.get('role')))}"
                       f"</b>: {_text(str(m.get('content')))}</div>" for m in v)
    if isinstance(v, str):
        return _text(v)
    return _text(json.dumps(v, ensure_ascii=False, default=str))


def render_rows(rows: list[dict[str, Any]], start: int, kind: str | None) -> str:
    """A page of rows as HTML. `start` is the 1-based number of the first row."""
    if not rows:
        return CSS + "<div class='jft-ds'><i>no rows</i></div>"
    if kind == "preference":
        blocks = []
        for i, r in enumerate(rows):
            rest = {k: v for k, v in r.items() if k not in ("prompt", "chosen", "rejected")}
            prompt = (f"<div><b>prompt</b>{render_value(r['prompt'])}</div>" if "prompt" in r else "")
            extra = "".join(f"<div><b>{html.escape(k)}</b>: {render_value(v)}</div>" for k, v in rest.items())
            blocks.append(
                f"<div class='jft-prow'><div><b>#{start + i}</b></div>{prompt}"
                f"<div class='jft-pair'><div class='jft-chosen'><b>chosen</b>{render_value(r.get('chosen'))}</div>"
                f"<div class='jft-rejected'><b>rejected</b>{render_value(r.get('rejected'))}</div></div>{extra}</div>")
        return CSS + "<div class='jft-ds'>" + "".join(blocks) + "</div>"
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    head = "<tr><th>#</th>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols) + "</tr>"
    body = "".join("<tr><td>" + str(start + i) + "</td>" + "".join(f"<td>{render_value(r.get(c))}</td>" for c in cols)
                   + "</tr>" for i, r in enumerate(rows))
    return CSS + f"<div class='jft-ds'><table>{head}{body}</table></div>"


def _header(p: Pager) -> str:
    bits = [f"<b>{html.escape(p.title)}</b>"]
    if p.kind:
        bits.append(html.escape(f"{p.kind}/{p.format}" if p.format else p.kind))
    d = p.details
    if "rows" in d:
        bits.append(f"{d['rows']} rows" + (f" ({d['dropped']} dropped at import)" if d.get("dropped") else ""))
    if d.get("source"):
        src = d["source"]
        bits.append(html.escape(str(src.get("path") or src.get("id") or src.get("filename") or src.get("type"))))
    conv = "".join(f"<li>{html.escape(c)}</li>" for c in d.get("conversion") or [])
    return " · ".join(bits) + (f"<details><summary>conversion</summary><ul>{conv}</ul></details>" if conv else "")


class DatasetPreview(widgets.VBox):
    """Paged table of a dataset; prev/next/page box and (for catalog versions with an eval split) a split toggle."""

    def __init__(self, source: Any, page_size: int = 10, split: str = "train", ws: Any = None):
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self.pager = pager_for(source, ws)
        self.page_size = page_size
        self.split = split if split in self.pager.splits else self.pager.splits[0]
        self.page = 0
        self.rows: list[dict[str, Any]] = []  # only the page on screen
        self.header = widgets.HTML(_header(self.pager))
        self.split_toggle = widgets.ToggleButtons(options=list(self.pager.splits), value=self.split,
                                                  layout=widgets.Layout(display="" if len(self.pager.splits) > 1 else "none"))
        self.prev_button = widgets.Button(description="◀ prev", layout=widgets.Layout(width="80px"))
        self.next_button = widgets.Button(description="next ▶", layout=widgets.Layout(width="80px"))
        self.page_box = widgets.BoundedIntText(value=1, min=1, max=1, description="page", layout=widgets.Layout(width="150px"))
        self.page_label = widgets.Label()
        self.table = widgets.HTML()
        self.prev_button.on_click(lambda _: self.show(self.page - 1))
        self.next_button.on_click(lambda _: self.show(self.page + 1))
        self.page_box.observe(lambda ch: self.show(ch["new"] - 1), names="value")
        self.split_toggle.observe(self._on_split, names="value")
        controls = widgets.HBox([self.split_toggle, self.prev_button, self.page_box, self.next_button, self.page_label])
        super().__init__([self.header, controls, self.table])
        self.show(0)

    @property
    def pages(self) -> int | None:
        total = self.pager.total(self.split)
        return None if total is None else max(1, -(-total // self.page_size))

    def _on_split(self, change) -> None:
        self.split = change["new"]
        self.show(0)

    def show(self, page: int) -> None:
        """Show page `page` (0-based), clamped to the pages that exist."""
        pages = self.pages
        page = max(0, page if pages is None else min(page, pages - 1))
        rows = self.pager.rows(page * self.page_size, self.page_size, self.split)
        if not rows and page > 0 and pages is None:  # ran past the end of a streamed file
            return self.show(page - 1)
        self.page, self.rows = page, rows
        pages = self.pages
        start = page * self.page_size + 1
        total = self.pager.total(self.split)
        of = f" of {total}" if total is not None else ""
        self.page_label.value = (f"rows {start}–{start + len(rows) - 1}{of} (page {page + 1}"
                                 + (f" of {pages})" if pages else ")") if rows else "no rows")
        self.page_box.max = pages or 10**9  # a streamed file's length is known once read to the end
        if self.page_box.value != page + 1:
            self.page_box.value = page + 1
        self.prev_button.disabled = page == 0
        self.next_button.disabled = pages is not None and page >= pages - 1
        self.table.value = render_rows(rows, start, self.pager.kind)


def preview(ref: Any, ws: Any = None, page_size: int = 10, split: str = "train") -> DatasetPreview:
    """A preview widget for a catalog reference, a version, a local file, a Dataset or a DataFrame."""
    return DatasetPreview(ref, page_size=page_size, split=split, ws=ws)
