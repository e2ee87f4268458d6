"""The preview widget, driven without a browser: paging, splits, preference side by side, bounded reads."""

from __future__ import annotations

import html

import pytest

import jupyter_ft as ft
from jupyter_ft.core.datasets import demo_data
from jupyter_ft.widgets.dataset_preview import DatasetPreview, render_rows, render_value

from .conftest import write_jsonl


def test_pages_and_split_toggle(ws):
    v = ft.datasets.add_demo("human-like")  # 1,080 train / 120 eval rows
    w = ft.ui.datasets("human-like", page_size=5)
    assert isinstance(w, DatasetPreview) and w.page_label.value == "rows 1–5 of 1080 (page 1 of 216)"
    first = v.rows(0, 5)
    assert w.rows == first and html.escape(first[0]["chosen"][0]["content"]) in w.table.value
    assert "jft-pair" in w.table.value and w.table.value.index("chosen") < w.table.value.index("rejected")
    assert w.prev_button.disabled and not w.next_button.disabled
    w.next_button.click()
    assert w.page == 1 and w.rows == v.rows(5, 5) and "#6" in w.table.value
    w.page_box.value = 216
    assert w.page_label.value == "rows 1076–1080 of 1080 (page 216 of 216)" and w.next_button.disabled
    w.page_box.value = 999  # clamped
    assert w.page == 215
    assert w.split_toggle.options == ("train", "eval")
    w.split_toggle.value = "eval"
    assert w.page == 0 and w.page_label.value == "rows 1–5 of 120 (page 1 of 24)" and w.rows == v.rows(0, 5, "eval")
    assert v.ref in w.header.value


def test_tables_for_other_shapes_escape_html(ws, tmp_path):
    rows = [{"prompt": "<script>alert(1)</script>", "completion": "x" * 5000, "n": 3}]
    out = render_rows(rows, 1, None)
    assert "<script>" not in out and "&lt;script&gt;" in out and "(3000 more characters)" in out
    assert "<th>prompt</th>" in out and "<td>1</td>" in out
    assert "jft-user" in render_value([{"role": "user", "content": "hi"}])
    path = write_jsonl(tmp_path / "chat.jsonl", demo_data.sft_rows(30))
    w = DatasetPreview(path, page_size=8)  # a local file, streamed
    assert w.page_label.value == "rows 1–8 (page 1)"  # the length is known once the file has been read to its end
    w.page_box.value = 4
    assert w.rows == demo_data.sft_rows(30)[24:30] and w.page_label.value == "rows 25–30 of 30 (page 4 of 4)"
    import pandas as pd

    df = pd.DataFrame([{"prompt": "p", "chosen": "a", "rejected": "b"}] * 12)
    w = DatasetPreview(df, page_size=10)
    assert w.pager.kind == "preference" and w.page_label.value == "rows 1–10 of 12 (page 1 of 2)"
    with pytest.raises(ValueError, match="page_size"):
        DatasetPreview(df, page_size=0)


def test_large_version_previews_without_loading_its_rows(ws):
    import pyarrow as pa

    rows = [{"text": f"row {i} " + "lorem ipsum " * 40} for i in range(60_000)]
    v = ft.datasets.add(rows, name="big", technique="sft", eval_fraction=0)
    del rows
    size = v.file("train").stat().st_size
    before = pa.total_allocated_bytes()
    w = ft.ui.datasets("big", page_size=10)
    w.page_box.value = 4000
    allocated = pa.total_allocated_bytes() - before
    assert size > 25 << 20 and allocated < 1 << 20  # the file is memory-mapped; only the page is materialised
    assert len(w.rows) == 10 and w.rows[0]["text"].startswith("row 39990 ")
