"""Dataset shapes per technique and row checks that name the row."""

import pytest

from jupyter_ft.core.datasets.formats import DatasetFormatError, detect, validate_rows

MSG = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def test_detect_sft_formats():
    assert detect("sft", ["messages", "id"]) == "messages"
    assert detect("sft", ["prompt", "completion"]) == "prompt_completion"
    assert detect("sft", ["text"]) == "text"
    with pytest.raises(DatasetFormatError, match=r"'messages' \| 'prompt' \+ 'completion' \| 'text'.*\['q'\]"):
        detect("sft", ["q"])


def test_preference_and_prompt_kinds():
    assert detect("preference", ["prompt", "chosen", "rejected"]) == "preference"
    assert detect("preference", ["chosen", "rejected"]) == "preference_implicit"
    assert detect("prompt", ["prompt", "answer"]) == "prompt"
    same = {"prompt": "q", "chosen": "a", "rejected": "a"}
    with pytest.raises(DatasetFormatError, match="row 2: 'chosen' and 'rejected' are identical"):
        validate_rows("preference", ["prompt", "chosen", "rejected"], [{"prompt": "q", "chosen": "a", "rejected": "b"}, same], "d")
    with pytest.raises(DatasetFormatError, match="whole conversations"):
        validate_rows("preference", ["chosen", "rejected"], [{"chosen": "a", "rejected": "b"}], "d")


def test_bad_rows_are_counted_and_the_first_named():
    rows = [{"messages": MSG}] * 3 + [{"messages": [{"role": "robot", "content": "x"}]}] * 7
    with pytest.raises(DatasetFormatError) as ei:
        validate_rows("sft", ["messages"], rows, "data.jsonl")
    msg = str(ei.value)
    assert msg.startswith("data.jsonl: 7 bad row(s)") and "row 4: 'messages'[0].role" in msg and "(and 2 more)" in msg
    assert validate_rows("sft", ["messages"], [{"messages": MSG}], "d") == "messages"
