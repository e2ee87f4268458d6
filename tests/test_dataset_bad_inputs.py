"""Bad input: each gets a message naming the file, row and column, or is handled in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from jupyter_ft.core.datasets import catalog, demo_data
from jupyter_ft.core.datasets.errors import DatasetImportError, DatasetValidationError
from jupyter_ft.core.workspace import Workspace

from .conftest import write_jsonl

MSG = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


@pytest.fixture
def cat(tmp_path):
    return Workspace(tmp_path / "ws")


def test_empty_files(cat, tmp_path):
    for name, content in (("a.jsonl", b""), ("b.csv", b""), ("c.parquet", b"")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DatasetImportError, match=rf"{name}: the file is empty \(0 bytes\)"):
            catalog.add(cat, tmp_path / name, technique="sft")
    (tmp_path / "blank.jsonl").write_text("\n  \n\n")
    with pytest.raises(DatasetImportError, match=r"blank.jsonl has no rows"):
        catalog.add(cat, tmp_path / "blank.jsonl", technique="sft")
    (tmp_path / "header.csv").write_text("prompt,completion\n")
    with pytest.raises(DatasetImportError, match=r"header.csv has no rows"):
        catalog.add(cat, tmp_path / "header.csv", technique="sft")
    assert catalog.list_datasets(cat) == []


def test_undecodable_bytes_name_row_and_column(cat, tmp_path):
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9 in latin-1", "id": 2}\n{"text": "also fine"}\n')
    with pytest.raises(DatasetValidationError) as ei:
        catalog.add(cat, path, technique="sft")
    (ex,) = ei.value.report["examples"]
    assert ex["row"] == 2 and ex["field"] == "text" and "column 'text' is not valid UTF-8 (byte 0xe9" in ex["message"]
    assert str(path) in str(ei.value)
    v = catalog.add(cat, path, technique="sft", drop_invalid=True, eval_fraction=0)
    assert v.rows(0, 5) == [{"text": "fine"}, {"text": "also fine"}] and v.dropped == 1
    csv_path = tmp_path / "bytes.csv"
    csv_path.write_bytes(b'prompt,completion\n"ok","fine"\n"bad \xff","x"\n')
    with pytest.raises(DatasetValidationError) as ei:
        catalog.add(cat, csv_path, technique="sft")
    (ex,) = ei.value.report["examples"]
    assert ex["row"] == 2 and ex["field"] == "prompt" and "column 'prompt' is not valid UTF-8 (byte 0xff)" in ex["message"]


def test_csv_with_embedded_newlines_and_quotes(cat, tmp_path):
    path = tmp_path / "quotes.csv"
    path.write_text('prompt,completion\n"Write a poem\nin two lines","Roses are ""red"",\nviolets, blue"\nhi,hello\n',
                    encoding="utf-8")
    v = catalog.add(cat, path, technique="sft", eval_fraction=0)
    assert v.rows(0, 5) == [{"prompt": "Write a poem\nin two lines", "completion": 'Roses are "red",\nviolets, blue'},
                            {"prompt": "hi", "completion": "hello"}]
    ragged = tmp_path / "ragged.csv"
    ragged.write_text('prompt,completion\n"a\nb",c\nonly-one-field\n"x","y","z"\n')
    with pytest.raises(DatasetValidationError) as ei:
        catalog.add(cat, ragged, technique="sft")
    rows = {e["row"]: e["message"] for e in ei.value.report["examples"]}
    assert rows == {2: "has 1 fields; the header has 2 (line 4)", 3: "has 3 fields; the header has 2 (line 5)"}


def test_mixed_schemas_across_rows(cat, tmp_path):
    rows = [{"messages": MSG}, {"messages": MSG}, {"prompt": "p", "completion": "c"}, {"messages": "hello there"}]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    with pytest.raises(DatasetValidationError) as ei:
        catalog.add(cat, path, technique="sft")
    ex = {e["row"]: e for e in ei.value.report["examples"]}
    assert set(ex) == {3, 4}
    assert ex[3]["message"] == "'messages' is missing; this row has ['completion', 'prompt']"
    assert ex[4]["field"] == "messages" and "must be a list of {role, content} messages, got str" in ex[4]["message"]
    # a type change far into a big file (past the first parsed chunk) is caught the same way
    many = [{"messages": MSG, "n": i} for i in range(60_000)] + [{"messages": MSG, "n": "sixty thousand"}]
    big = write_jsonl(tmp_path / "late.jsonl", many)
    assert big.stat().st_size > 5 << 20
    v = catalog.add(cat, big, technique="sft", eval_fraction=0)  # "n" is not used by sft
    assert v.num_rows == 60_001 and any("some rows read one by one" in c for c in v.conversion)
    with pytest.raises(DatasetValidationError) as ei:
        catalog.add(cat, big, "late-prompt", "prompt", mapping={"prompt": "messages"})
    (ex,) = ei.value.report["examples"]
    assert ex["row"] == 60_001 and ex["field"] == "n" and "holds str here but int64" in ex["message"]


def test_column_map_naming_a_missing_column(cat, tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(DatasetImportError) as ei:
        catalog.add(cat, path, technique="sft", mapping={"prompt": "question", "completion": "reply"})
    msg = str(ei.value)
    assert str(path) in msg and "mapping 'completion' -> 'reply': there is no column 'reply'" in msg
    assert "['answer', 'question']" in msg and ei.value.field == "mapping.completion"
    assert catalog.list_datasets(cat) == []


def test_unreadable_files_and_objects(cat, tmp_path):
    (tmp_path / "fake.parquet").write_text("not parquet at all")
    with pytest.raises(DatasetImportError, match=r"fake.parquet: not a readable Parquet file"):
        catalog.add(cat, tmp_path / "fake.parquet", technique="sft")
    (tmp_path / "arr.json").write_text('[{"text": "a"}, 5, {"text": "b"}')
    with pytest.raises(DatasetImportError, match=r"arr.json: not valid JSON at line 1"):
        catalog.add(cat, tmp_path / "arr.json", technique="sft")
    (tmp_path / "arr2.json").write_text('[{"text": "a"}, 5, {"text": "b"}]')
    with pytest.raises(DatasetValidationError, match=r"row 2: must be a JSON object, got int"):
        catalog.add(cat, tmp_path / "arr2.json", technique="sft")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetImportError, match=r"unknown file type '.txt'"):
        catalog.add(cat, tmp_path / "notes.txt", technique="sft")
    with pytest.raises(DatasetImportError, match=r"no such file: .*missing.jsonl"):
        catalog.add(cat, tmp_path / "missing.jsonl", technique="sft")
    import pandas as pd

    df = pd.DataFrame({"prompt": ["a", "b", 3], "completion": ["x", ["not", "text"], "z"]})
    with pytest.raises(DatasetValidationError) as ei:
        catalog.add(cat, df, "df", "sft")
    assert {(e["row"], e["field"]) for e in ei.value.report["examples"]} == {(2, "completion"), (3, "prompt")}
    with pytest.raises(DatasetImportError, match="cannot import a set"):
        catalog.add(cat, {1, 2}, "x", "sft")
    assert catalog.list_datasets(cat) == []


MEMORY_PROBE = textwrap.dedent("""
    import re, sys
    from jupyter_ft.core.workspace import Workspace
    from jupyter_ft.core.datasets import catalog
    ws = Workspace(sys.argv[2])
    catalog.add(ws, [{"text": "warm up every reader and kernel first"}], "warm", "sft")
    def peak_kb():  # this process's own high-water mark (ru_maxrss would start at the parent's size)
        return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
    base = peak_kb()
    v = catalog.add(ws, sys.argv[1], "big", "sft", drop_invalid=True)
    peak = peak_kb()
    print(v.num_rows, v.dropped, (peak - base) // 1024)
""")


@pytest.mark.slow
def test_large_file_is_imported_in_bounded_memory(tmp_path):
    """A 256 MB JSONL (with one bad row near the end, read row by row within its chunk and dropped) imports with
    the process growing by far less than the file: reader, checks, digest and split all stream in bounded batches.
    (A 1 GB file behaves the same; `bench/dataset_import.py --big-mb 1024` measures it.)"""
    rows = demo_data.preference_rows(2000)
    chunk = "".join(json.dumps({"messages": r["prompt"] + r["chosen"]}) + "\n" for r in rows).encode()
    path = tmp_path / "big.jsonl"
    reps = (256 << 20) // len(chunk) + 1
    with path.open("wb") as fh:
        for i in range(reps):
            fh.write(chunk)
            if i == reps - 2:
                fh.write(b'{"messages": "a row of the wrong type"}\n')
    size_mb = path.stat().st_size >> 20
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), str(tmp_path / "ws")], capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    num_rows, dropped, grew_mb = map(int, out.stdout.split())
    assert num_rows == reps * len(rows) and dropped == 1
    assert size_mb >= 256 and grew_mb < 128, f"grew {grew_mb} MB importing {size_mb} MB"
