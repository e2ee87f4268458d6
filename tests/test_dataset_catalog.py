"""Versions: content addressing and dedup, immutability, seeded splits, lookups, sources, atomic imports."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

import jupyter_ft as ft
from jupyter_ft.core.datasets import catalog, demo_data
from jupyter_ft.core.datasets.errors import DatasetImportError, DatasetNotFound, DatasetValidationError
from jupyter_ft.core.workspace import Workspace

from .conftest import write_jsonl

CHAT = demo_data.sft_rows(40)


@pytest.fixture
def cat(tmp_path):
    return Workspace(tmp_path / "ws")


def snapshot(ws: Workspace):
    """Everything the catalog holds: its rows and every file under datasets/."""
    rows = [tuple(r) for r in ws.conn.execute("SELECT * FROM dataset_versions ORDER BY name, version")]
    root = catalog.datasets_dir(ws)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []
    return rows, files


def test_add_records_source_rows_columns_format_and_time(cat, tmp_path):
    path = write_jsonl(tmp_path / "chat.jsonl", CHAT)
    v = catalog.add(cat, path, technique="sft")
    assert v.name == "chat" and len(v.version) == 12 and v.ref == f"chat@{v.version}"
    assert (v.num_rows, v.num_train, v.num_eval, v.dropped) == (40, 36, 4, 0)
    assert v.source["type"] == "file" and v.source["path"] == str(path) and v.source["format"] == "jsonl"
    assert v.columns == {"messages": "list<item: struct<role: string, content: string>>"}
    assert v.format == "messages" and v.created_at > 0
    assert (v.path / "train.arrow").is_file() and (v.path / "eval.arrow").is_file()
    meta = json.loads((v.path / "meta.json").read_text())
    assert meta["version"] == v.version and meta["digest"].startswith(v.version)
    train = v.dataset("train")
    assert train.num_rows == 36 and train[0]["messages"][0]["role"] == "user"


def test_identical_content_returns_the_same_version(cat, tmp_path):
    path = write_jsonl(tmp_path / "chat.jsonl", CHAT)
    v1 = catalog.add(cat, path, "chat", "sft")
    before = snapshot(cat)
    v2 = catalog.add(cat, path, "chat", "sft")
    assert v2 == v1 and snapshot(cat) == before
    # the same rows from another source (a DataFrame, a list, CSV-free JSON array) are the same content
    import pandas as pd

    assert catalog.add(cat, pd.DataFrame(CHAT), "chat", "sft").version == v1.version
    arr = tmp_path / "chat.json"
    arr.write_text(json.dumps(CHAT))
    assert catalog.add(cat, arr, "chat", "sft").version == v1.version
    assert len(catalog.versions(cat, "chat")) == 1
    # other content, another mapping or other split settings make another version
    assert catalog.add(cat, CHAT[:-1], "chat", "sft").version != v1.version
    assert catalog.add(cat, path, "chat", "sft", seed=1).version != v1.version
    rows = [{"q": r["messages"][0]["content"], "a": r["messages"][1]["content"]} for r in CHAT]
    a = catalog.add(cat, rows, "qa", "sft", mapping={"prompt": "q", "completion": "a"})
    b = catalog.add(cat, [{"prompt": r["q"], "completion": r["a"]} for r in rows], "qa", "sft")
    assert a.version != b.version and a.rows(0, 3) == b.rows(0, 3)  # same rows, different mapping recorded


def test_split_is_seeded_and_deterministic(cat, tmp_path):
    rows = [{"text": f"row {i}"} for i in range(1000)]
    v = catalog.add(cat, rows, "t", "sft", eval_fraction=0.2, seed=5)
    w = catalog.add(Workspace(tmp_path / "other"), rows, "t", "sft", eval_fraction=0.2, seed=5)
    assert (v.num_train, v.num_eval) == (800, 200) and v.split["seed"] == 5
    evals = [r["text"] for r in v.rows(0, 1000, "eval")]
    assert evals == [r["text"] for r in w.rows(0, 1000, "eval")] and len(evals) == 200
    other = catalog.add(cat, rows, "t", "sft", eval_fraction=0.2, seed=6)
    assert set(evals) != {r["text"] for r in other.rows(0, 1000, "eval")}
    train = {r["text"] for r in v.rows(0, 1000, "train")}
    assert not train & set(evals) and len(train | set(evals)) == 1000
    none = catalog.add(cat, rows, "t", "sft", eval_fraction=0.0)
    assert (none.num_train, none.num_eval) == (1000, 0)


def test_lookups_latest_prefix_and_errors(cat):
    a = catalog.add(cat, CHAT[:10], "chat", "sft", eval_fraction=0)
    b = catalog.add(cat, CHAT[:20], "chat", "sft", eval_fraction=0)
    catalog.add(cat, [{"text": "x"}], "notes", "sft", eval_fraction=0)
    assert catalog.get(cat, "chat") == b == catalog.get(cat, "chat@latest")
    assert catalog.get(cat, f"chat@{a.version[:6]}") == a
    assert [v.ref for v in catalog.versions(cat, "chat")] == [b.ref, a.ref]
    assert [v.name for v in catalog.list_datasets(cat)] == ["chat", "notes"]
    assert catalog.refs(cat) == [b.ref, a.ref, catalog.get(cat, "notes").ref]
    with pytest.raises(DatasetNotFound, match=r"dataset 'chat' has no version 'ffffff'; its versions are"):
        catalog.get(cat, "chat@ffffff")
    with pytest.raises(DatasetNotFound, match=r"no dataset named 'nope' in the catalog \(it has: chat, notes\)"):
        catalog.get(cat, "nope")


def test_versions_are_immutable_files_and_rows(cat):
    v = catalog.add(cat, CHAT, "chat", "sft")
    import stat

    assert all(stat.S_IMODE(f.stat().st_mode) == 0o444 for f in v.path.iterdir())
    before = v.rows(0, 50)
    catalog.add(cat, CHAT[:5], "chat", "sft")  # a new version never touches the old one
    assert catalog.get(cat, v.ref).rows(0, 50) == before


def test_failed_imports_change_nothing(cat, tmp_path):
    catalog.add(cat, CHAT, "chat", "sft")
    before = snapshot(cat)
    bad_rows = CHAT[:5] + [{"messages": [{"role": "robot", "content": "x"}]}]
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    for source, kw in ((bad_rows, {}), (empty, {}), (CHAT, {"mapping": {"messages": "nope"}}),
                       (tmp_path / "missing.jsonl", {}), (CHAT, {"eval_fraction": 1.5}), (CHAT, {"name": "bad name!"})):
        with pytest.raises(DatasetImportError):
            catalog.add(cat, source, kw.pop("name", "chat"), "sft", **kw)
    assert snapshot(cat) == before
    assert not list(catalog.datasets_dir(cat).glob(".tmp-*"))


def test_an_import_killed_midway_leaves_nothing_registered(cat, tmp_path):
    """A process dying inside the commit leaves an unregistered folder; the catalog ignores it and a retry wins."""
    v = catalog.add(cat, CHAT, "chat", "sft")
    cat.conn.execute("DELETE FROM dataset_versions")  # as if the insert never committed
    assert catalog.list_datasets(cat) == [] and v.path.exists()
    again = catalog.add(cat, CHAT, "chat", "sft")
    assert again.version == v.version and again.rows(0, 3) == v.rows(0, 3)


def test_drop_invalid_records_how_many_and_why(cat):
    rows = CHAT[:8] + [{"messages": []}, {"messages": [{"role": "user", "content": "no answer"}]}]
    with pytest.raises(DatasetValidationError) as ei:
        catalog.add(cat, rows, "chat", "sft")
    report = ei.value.report
    assert report["invalid_rows"] == 2 and [e["row"] for e in report["examples"]] == [9, 10]
    assert report["counts"] == {"'messages' has no messages": 1,
                                "'messages' has no non-empty assistant message to learn from": 1}
    assert "pass drop_invalid=True" in str(ei.value)
    v = catalog.add(cat, rows, "chat", "sft", drop_invalid=True, eval_fraction=0)
    assert (v.num_rows, v.dropped, v.meta["source_rows"]) == (8, 2, 10)
    assert v.problems["counts"] == report["counts"] and "dropped 2 invalid rows of 10" in v.conversion[-1]


def test_length_limit_is_a_reason(cat):
    rows = [{"text": "short"}, {"text": "x" * 500}]
    with pytest.raises(DatasetValidationError, match=r"row 2: 500 characters of text, more than max_chars=100"):
        catalog.add(cat, rows, "t", "sft", max_chars=100)
    assert catalog.add(cat, rows, "t", "sft", max_chars=None, eval_fraction=0).num_rows == 2


def test_hf_dataset_local_folders_and_offline_hub(cat, tmp_path, monkeypatch):
    import datasets

    ds = datasets.Dataset.from_list(CHAT)
    v = catalog.add(cat, ds, "from-ds", "sft")
    assert v.source["type"] == "Dataset" and v.num_rows == 40
    saved = tmp_path / "saved"
    ds.save_to_disk(str(saved))
    assert catalog.add(cat, saved, "from-ds", "sft").version == v.version  # same rows -> same version
    folder = tmp_path / "folder"  # a script-less dataset folder, as a hub repo is laid out
    (folder / "data").mkdir(parents=True)
    write_jsonl(folder / "data" / "train.jsonl", CHAT)
    w = catalog.add(cat, folder, None, "sft")
    assert w.name == "folder" and w.version == v.version and w.source["loader"] == "load_dataset"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    before = snapshot(cat)
    with pytest.raises(DatasetImportError, match=r"cannot load 'someorg/somedata' from the Hugging Face hub: this machine "
                                                 r"is offline .* add a local file or folder instead") as ei:
        catalog.add(cat, "someorg/somedata", technique="preference", split="train", revision="main")
    assert ei.value.field == "source" and snapshot(cat) == before


def test_sdk_add_list_get_and_demo(ws, tmp_path):
    path = write_jsonl(tmp_path / "chat.jsonl", CHAT)
    v = ft.datasets.add(str(path), name="chat", technique="sft")
    assert ft.datasets.get("chat") == v and [x.ref for x in ft.datasets.list()] == [v.ref]
    demo = ft.datasets.add_demo("human-like")
    assert demo.kind == "preference" and demo.num_rows == 1200 and demo.source["type"] == "demo"
    assert ft.datasets.rows("human-like", 0, 2)[0]["chosen"][0]["role"] == "assistant"
    assert "DatasetVersion human-like@" in repr(demo)


def test_database_migration_is_appended(tmp_path):
    ws = Workspace(tmp_path / "ws")
    from jupyter_ft.core.workspace import MIGRATIONS

    con = sqlite3.connect(ws.db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    cols = {r[1] for r in con.execute("PRAGMA table_info(dataset_versions)")}
    assert {"name", "version", "kind", "format", "num_rows", "created_at", "meta"} <= cols
    assert os.path.exists(ws.db_path)


def test_content_digest_ignores_batch_boundaries_and_layout():
    import pyarrow as pa

    from jupyter_ft.core.datasets.content_hash import ContentHash

    rows = [{"messages": [{"role": "user", "content": f"q{i}" * (i % 7)}] * (i % 3) if i % 11 else None,
             "answer": None if i % 5 == 0 else i, "tag": f"t{i % 4}" if i % 6 else None} for i in range(3000)]
    table = pa.Table.from_pylist(rows)

    def digest(batch_rows: int, t=table) -> str:
        h = ContentHash(t.column_names)
        for b in t.to_batches(max_chunksize=batch_rows):
            h.update(pa.Table.from_batches([b]))
        return h.hexdigest({})

    assert len({digest(n) for n in (1, 7, 1000, 3000)}) == 1
    pad = [{"messages": [{"role": "x", "content": "pad"}], "answer": 7, "tag": "pad"}] * 5
    sliced = pa.Table.from_pylist(pad + rows, schema=table.schema).slice(5)  # same values behind an offset
    assert digest(500, sliced) == digest(3000)
    changed = rows[:2999] + [{**rows[2999], "tag": "other"}]
    assert digest(1000, pa.Table.from_pylist(changed)) != digest(1000)


def test_every_file_type_and_version_folders_stay_untouched(cat, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"prompt": f"question {i}", "completion": f"answer {i}"} for i in range(30)]
    jsonl = write_jsonl(tmp_path / "pairs.jsonl", rows)
    as_json = tmp_path / "pairs.json"
    as_json.write_text(json.dumps(rows))
    lines_json = write_jsonl(tmp_path / "lines.json", rows)  # JSON Lines named .json
    csv = tmp_path / "pairs.csv"
    csv.write_text("prompt,completion\n" + "".join(f"{r['prompt']},{r['completion']}\n" for r in rows))
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("prompt\tcompletion\n" + "".join(f"{r['prompt']}\t{r['completion']}\n" for r in rows))
    parquet = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=7)
    versions = {catalog.add(cat, p, "pairs", "sft").version for p in (jsonl, as_json, lines_json, csv, tsv, parquet)}
    assert len(versions) == 1
    v = catalog.get(cat, "pairs")
    listing = sorted(p.name for p in v.path.iterdir())
    v.dataset().map(lambda r: {"n": len(r["prompt"])})  # datasets caches map results beside the file it reads
    assert sorted(p.name for p in v.path.iterdir()) == listing == ["eval.arrow", "meta.json", "train.arrow"]
