"""The demo preference dataset: template-generated, adjustable size, varied, registrable in one call."""

from __future__ import annotations

import json

import jupyter_ft as ft
from jupyter_ft.core.datasets import demo_data


def test_preference_rows_shape_size_and_variety():
    rows = demo_data.preference_rows()
    assert len(rows) == 1200 and len(demo_data.preference_rows(5000, seed=1)) == 5000
    assert demo_data.preference_rows(50) == demo_data.preference_rows(50)  # deterministic
    assert demo_data.preference_rows(50, seed=1) != demo_data.preference_rows(50)
    assert len({json.dumps(r, sort_keys=True) for r in rows}) == 1200  # no duplicate rows
    assert len({json.dumps(r["prompt"]) for r in rows}) > 800
    assert len({r["chosen"][0]["content"] for r in rows}) > 500
    for r in rows:
        assert r["prompt"][-1]["role"] == "user" and [m["role"] for m in r["chosen"] + r["rejected"]] == ["assistant"] * 2
    multi = [r for r in rows if len(r["prompt"]) > 1]
    assert 200 < len(multi) < 1000  # some prompts carry a system turn or an earlier exchange
    warm = sum(any(w in r["chosen"][0]["content"] for w in ("!", "Honestly", "Haha", "Ooh")) for r in rows)
    stiff = sum(any(w in r["rejected"][0]["content"] for w in ("!", "Honestly", "Haha", "Ooh")) for r in rows)
    assert warm > 0.8 * len(rows) and stiff == 0


def test_demo_is_registered_in_one_call(ws):
    v = ft.datasets.add_demo("human-like", n=1500)
    assert (v.kind, v.format, v.num_rows, v.conversational) == ("preference", "preference", 1500, True)
    assert ft.datasets.add_demo("human-like", n=1500) == v
    assert ft.datasets.add_demo("capitals").format == "messages"
