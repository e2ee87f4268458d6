"""Format detection (names, aliases, value shapes, explicit mapping) and conversion to the rows TRL reads."""

from __future__ import annotations

import json
import random

import pytest

from jupyter_ft.core.datasets import catalog
from jupyter_ft.core.datasets.errors import DatasetImportError, DatasetValidationError
from jupyter_ft.core.workspace import Workspace

from .conftest import write_jsonl

U = {"role": "user", "content": "What is 2 + 2?"}
A = {"role": "assistant", "content": "4."}
B = {"role": "assistant", "content": "Four, obviously."}


@pytest.fixture
def cat(tmp_path):
    return Workspace(tmp_path / "ws")


def add(ws, rows, technique=None, **kw):
    return catalog.add(ws, rows, kw.pop("name", "d"), technique, eval_fraction=kw.pop("eval_fraction", 0.0), **kw)


def test_sft_formats_are_detected_and_stored_as_trl_reads_them(cat):
    v = add(cat, [{"messages": [U, A], "id": 1}] * 3, "sft")
    assert (v.kind, v.format, v.conversational) == ("sft", "messages", True)
    assert v.rows(0, 1) == [{"messages": [U, A]}] and "dropped columns not used by sft training: ['id']" in v.conversion
    v = add(cat, [{"prompt": "2 + 2?", "completion": " 4"}], "sft", name="pc")
    assert (v.format, v.conversational, v.rows()) == ("prompt_completion", False, [{"prompt": "2 + 2?", "completion": " 4"}])
    v = add(cat, [{"prompt": [U], "completion": [A]}], "sft", name="pcc")
    assert (v.format, v.conversational) == ("prompt_completion", True)
    v = add(cat, [{"text": "Once upon a time."}], "sft", name="t")
    assert (v.format, v.rows()) == ("text", [{"text": "Once upon a time."}])


def test_aliases_sharegpt_alpaca_and_json_text_are_converted_and_recorded(cat, tmp_path):
    v = add(cat, [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}], "sft")
    assert v.rows() == [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}]
    assert any("ShareGPT" in c for c in v.conversion) and v.mapping == {"messages": "conversations"}
    v = add(cat, [{"instruction": "Add.", "input": "2 2", "output": "4"}, {"instruction": "Say hi.", "input": "", "output": "hi"}],
            "sft", name="alpaca")
    assert v.rows(0, 2) == [{"prompt": "Add.\n\n2 2", "completion": "4"}, {"prompt": "Say hi.", "completion": "hi"}]
    assert any("Alpaca" in c for c in v.conversion)
    csv_file = tmp_path / "chat.csv"  # a spreadsheet column holding JSON conversations
    csv_file.write_text('messages,note\n"' + json.dumps([U, A]).replace('"', '""') + '",x\n')
    v = catalog.add(cat, csv_file, "csv", "sft", eval_fraction=0)
    assert v.rows() == [{"messages": [U, A]}] and any("JSON text parsed" in c for c in v.conversion)


def test_value_shapes_find_the_conversation_column(cat):
    v = add(cat, [{"dialogue_turns": [U, A], "lang": "en"}], "sft")
    assert v.format == "messages" and v.mapping == {"messages": "dialogue_turns"}


def test_explicit_mapping_overrides_detection(cat):
    rows = [{"q": "2 + 2?", "a": "4", "text": "ignored"}]
    assert add(cat, rows, "sft").format == "text"  # detected: the 'text' column
    v = add(cat, rows, "sft", name="mapped", mapping={"prompt": "q", "completion": "a"})
    assert v.format == "prompt_completion" and v.rows() == [{"prompt": "2 + 2?", "completion": "4"}]
    assert v.mapping == {"prompt": "q", "completion": "a"} and "column 'q' -> 'prompt' (explicit mapping)" in v.conversion
    with pytest.raises(DatasetImportError, match=r"mapping names \['answer'\] which sft data does not have") as ei:
        add(cat, rows, "sft", name="bad", mapping={"answer": "a"})
    assert ei.value.field == "mapping.answer"


def test_preference_string_conversational_and_mixed(cat):
    v = add(cat, [{"prompt": "2 + 2?", "chosen": "4", "rejected": "5"}], "preference")
    assert (v.kind, v.format, v.conversational) == ("preference", "preference", False)
    v = add(cat, [{"prompt": [U], "chosen": [A], "rejected": [B]}], "preference", name="conv")
    assert v.conversational and v.rows() == [{"prompt": [U], "chosen": [A], "rejected": [B]}]
    v = add(cat, [{"prompt": "What is 2 + 2?", "chosen": [A], "rejected": [B]}], "preference", name="mixed")
    assert v.rows() == [{"prompt": [U], "chosen": [A], "rejected": [B]}]
    assert "string 'prompt' wrapped as one user message (the other fields are conversations)" in v.conversion


def test_implicit_prompt_preference_is_split_at_the_shared_turns(cat):
    sys_msg = {"role": "system", "content": "Be brief."}
    follow = {"role": "user", "content": "And 3 + 3?"}
    rows = [
        {"chosen": [U, A], "rejected": [U, B]},
        {"chosen": [sys_msg, U, A, follow, {"role": "assistant", "content": "6."}],
         "rejected": [sys_msg, U, A, follow, {"role": "assistant", "content": "Seven."}]},
    ]
    v = add(cat, rows, "preference")
    assert v.format == "preference" and v.mapping == {"chosen": "chosen", "rejected": "rejected"}
    assert v.rows(0, 2) == [
        {"prompt": [U], "chosen": [A], "rejected": [B]},
        {"prompt": [sys_msg, U, A, follow], "chosen": [{"role": "assistant", "content": "6."}],
         "rejected": [{"role": "assistant", "content": "Seven."}]},
    ]
    assert any("implicit prompt" in c for c in v.conversion)
    bad = [{"chosen": [U, A], "rejected": [U, A]},                                     # identical
           {"chosen": [U, A], "rejected": [{"role": "user", "content": "other"}, B]},  # no shared turn
           {"chosen": [U, A], "rejected": [U, A, follow]},                             # one continues the other
           {"chosen": [sys_msg, U, A], "rejected": [sys_msg, follow, A]}]              # diverges on a user turn
    with pytest.raises(DatasetValidationError) as ei:
        add(cat, rows + bad, "preference", name="bad")
    msgs = [e["message"] for e in ei.value.report["examples"]]
    assert [e["row"] for e in ei.value.report["examples"]] == [3, 4, 5, 6]
    assert "identical" in msgs[0] and "share no leading turn" in msgs[1] and "continues the other" in msgs[2]
    assert "must go on with an assistant turn" in msgs[3]
    with pytest.raises(DatasetImportError, match="whole conversations"):
        add(cat, [{"chosen": "a", "rejected": "b"}], "preference", name="strings")


def test_rl_prompts_keep_reward_columns(cat):
    v = add(cat, [{"question": "2 + 2?", "answer": 4, "source": "gsm"}], "prompt")
    assert (v.kind, v.format) == ("prompt", "prompt")
    assert v.rows() == [{"prompt": "2 + 2?", "answer": 4, "source": "gsm"}]
    v = add(cat, [{"prompt": [U], "solution": "4"}], "prompt", name="conv", mapping={"reference": "solution"})
    assert v.rows() == [{"prompt": [U], "reference": "4"}]


def test_kind_is_detected_without_a_technique(cat):
    assert add(cat, [{"prompt": "p", "chosen": "a", "rejected": "b"}]).kind == "preference"
    assert add(cat, [{"messages": [U, A]}], name="s").kind == "sft"
    assert add(cat, [{"prompt": "p", "completion": "c"}], name="pc").kind == "sft"
    assert add(cat, [{"prompt": "p", "answer": 4}], name="p").kind == "prompt"
    with pytest.raises(DatasetImportError, match=r"no data format fits.*the dataset has q \(text\), n \(int64\)"):
        add(cat, [{"q": "x", "n": 1}], name="none")


def test_unknown_technique_names_the_field(cat):
    with pytest.raises(DatasetImportError, match="unknown technique or data kind 'magic'") as ei:
        add(cat, [{"text": "x"}], "magic")
    assert ei.value.field == "technique"


def _random_message(rng):
    role = rng.choice(["user", "assistant", "system", "tool", "robot", None])
    content = rng.choice(["hi", "  ", "", "ok then", None])
    return {"role": role, "content": content}


ROLES = {"system", "user", "assistant", "tool"}


def check_row(kind: str, fmt: str, row: dict) -> str | None:
    """An independent, row-by-row statement of the SFT `messages` rules: the oracle the vectorised checks must match."""
    assert (kind, fmt) == ("sft", "messages")
    v = row.get("messages")
    if not isinstance(v, list) or not v:
        return "not a non-empty list"
    for m in v:
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return "bad message"
    if not any(m["role"] == "assistant" and m["content"].strip() for m in v):
        return "nothing to learn from"
    return None


def test_vectorised_checks_agree_with_the_row_reference(cat, tmp_path):
    """Every row a row-by-row oracle rejects is rejected by the catalog's vectorised checks, and only those."""
    rng = random.Random(7)
    rows = []
    for _ in range(400):
        shape = rng.random()
        if shape < 0.1:
            rows.append({"messages": []})
        elif shape < 0.15:
            rows.append({"messages": "not a list"})
        else:
            rows.append({"messages": [_random_message(rng) for _ in range(rng.randint(1, 4))]})
    expected_bad = [i + 1 for i, r in enumerate(rows) if check_row("sft", "messages", r)]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    report = Workspace(tmp_path / "ws2")
    with pytest.raises(DatasetValidationError) as ei:
        catalog.add(report, path, "m", "sft")
    assert ei.value.report["invalid_rows"] == len(expected_bad) > 50
    v = catalog.add(report, path, "m", "sft", drop_invalid=True, eval_fraction=0)
    assert v.num_rows == 400 - len(expected_bad) and v.dropped == len(expected_bad)
    kept = v.rows(0, 400)
    assert all(check_row("sft", "messages", r) is None for r in kept)
