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


def test_chosen_and_rejected_carry_the_same_help_in_two_registers():
    from jupyter_ft.core.datasets import human_like

    rows = demo_data.preference_rows(400, seed=2)
    by_question = {q: pts for _, qs, pts in human_like.ENTRIES for q in qs}
    checked = 0
    for r in rows:
        question = r["prompt"][-1]["content"]
        points = next((p for q, p in by_question.items() if question.endswith(q) or question.endswith(q[0].lower() + q[1:])), None)
        if points is None:
            continue  # small talk: the same reply written twice
        chosen, rejected = r["chosen"][0]["content"], r["rejected"][0]["content"]
        for p in points:  # every helpful point is in both answers (the warm one contracted)
            assert p.lower() in rejected.lower() and human_like._contract(p).lower() in chosen.lower(), (p, chosen)
        checked += 1
    assert checked > 300
    contractions = sum(len(__import__("re").findall(r"\b\w+'(?:s|re|ve|ll|d|t|m)\b", r["chosen"][0]["content"]))
                       for r in rows)
    formal = sum(any(w in r["rejected"][0]["content"] for w in ("Furthermore", "advisable", "Additionally", "Moreover",
                                                                 "Subsequently", "Therefore", "Consequently"))
                 for r in rows)
    assert contractions > len(rows) and formal > 0.6 * len(rows)
    assert not any("'" in p and "n't" in p for _, _, pts in human_like.ENTRIES for p in pts)  # full forms in the table


def test_unseen_prompts_are_not_in_the_training_rows(ws):
    from jupyter_ft.core.datasets import human_like

    questions = {r["prompt"][-1]["content"].lower() for r in demo_data.preference_rows(1200)}
    assert len(human_like.EVAL_PROMPTS) >= 50 and len(set(human_like.EVAL_PROMPTS)) == len(human_like.EVAL_PROMPTS)
    for p in human_like.EVAL_PROMPTS:
        assert not any(q.endswith(p.lower()) for q in questions), p
    v = ft.datasets.add_demo("human-like-prompts")
    assert (v.kind, v.num_train, v.num_eval) == ("prompt", len(human_like.EVAL_PROMPTS), 0)
    assert "never saw" in v.card and "How it was made" in ft.datasets.add_demo("human-like", n=100).card
