"""One door for data: every face's dataset goes through the catalog; relative paths mean where the submitter stands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import jupyter_ft as ft
from jupyter_ft.core.train import sizing
from jupyter_ft.core.datasets import catalog, demo_data, door
from jupyter_ft.core.spec.train import parse_spec

from .conftest import write_jsonl


def qa_rows(n: int) -> list[dict]:
    return [{"question": r["messages"][0]["content"], "answer": r["messages"][1]["content"]}
            for r in demo_data.sft_rows(n)]


def eval_losses(job) -> list[float]:
    """eval_loss as MLflow recorded it (the forwarder sends the job's events)."""
    from mlflow.tracking import MlflowClient

    from .test_jobs import wait_forwarded

    wait_forwarded(job.ws, job)
    return [m.value for m in MlflowClient(job.record.tracking_uri).get_metric_history(job.run_id, "eval_loss")]


# --- any dataset object, in the kernel ----------------------------------------------------------------------

@pytest.mark.slow
def test_dataframe_rows_and_dataset_each_get_a_pinned_version_and_eval_loss(ws, tiny_model):
    import datasets
    import pandas as pd

    rows = qa_rows(40)
    given = {"dataframe": pd.DataFrame(rows), "rows": rows, "dataset": datasets.Dataset.from_list(rows)}
    jobs = {name: ft.train(model=str(tiny_model), dataset=obj, max_steps=2, logging_steps=1) for name, obj in given.items()}
    for name, job in jobs.items():
        spec = job.spec
        v = catalog.get(ws, spec.dataset)
        assert spec.dataset == v.ref and v.name == name and v.format == "prompt_completion"
        assert (v.num_train, v.num_eval) == (36, 4) and spec.eval_fraction == 0.1
        assert job.record.submitted["dataset"] == v.ref  # the object is recorded as the version it became
        assert "imported at submission" in spec.auto["dataset"] and spec.eval_rows and spec.eval_batch_size
    for name, job in jobs.items():
        job.wait(timeout=300)
        assert job.status == "succeeded", job.logs(tail=30)
        assert eval_losses(job), f"{name}: no eval_loss in MLflow"
    # the same rows from three roads: one content digest per name (content-addressed)
    assert len({catalog.get(ws, j.spec.dataset).meta["digest"][:12] for j in jobs.values()}) == 1


def test_bad_objects_name_the_column_or_row(ws, tiny_model):
    import pandas as pd

    cases = [
        (pd.DataFrame({"prompt": ["q1", {"a": 1}, "q3"], "completion": ["a", "b", "c"]}), "row 2", "'prompt'"),
        (pd.DataFrame({"prompt": ["q1", 7, "q3"], "completion": ["a", "b", "c"]}), "row 2", "'prompt' must be a string"),
        (pd.DataFrame({"prompt": [["x"], "q2"], "completion": ["a", "b"]}), "row 1", "'prompt'"),
        ([], "empty list", ""),
        (pd.DataFrame({"prompt": [], "completion": []}), "empty DataFrame", "'prompt'"),
        ([{"prompt": "q", "completion": "a"}, "not a row"], "row 2", "must be a mapping"),
    ]
    for obj, where, what in cases:
        with pytest.raises(ft.SpecError) as ei:
            ft.preview({"model": str(tiny_model), "dataset": obj})
        (field, msg), = ei.value.errors
        assert field == "dataset" and where in msg and what in msg, msg
    assert catalog.names(ws) == []  # nothing half-imported


# --- files: imported once, by identity ----------------------------------------------------------------------

def test_same_file_twice_is_one_version_with_no_copy(ws, tiny_model, tmp_path):
    rows = [{"messages": r["prompt"] + r["chosen"]} for r in demo_data.preference_rows(20_000)]
    path = write_jsonl(tmp_path / "chat.jsonl", rows)
    spec = {"model": str(tiny_model), "dataset": str(path), "max_steps": 1}
    t = time.perf_counter()
    first = ft.preview(spec)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    again = ft.preview(spec)
    warm = time.perf_counter() - t
    assert again.dataset == first.dataset and "unchanged since it was imported" in again.auto["dataset"]
    print(f"first preview {cold:.2f} s, the same file again {warm:.2f} s")  # timings: bench/, not asserted here
    assert [p.name for p in (catalog.datasets_dir(ws) / "chat").iterdir()] == [first.dataset.split("@")[1]]
    job = ft.submit(spec)  # a submission goes the same way: the same version, nothing read again
    assert job.spec.dataset == first.dataset
    job.cancel()
    write_jsonl(path, rows[:100])  # a changed file is a new version
    assert ft.preview(spec).dataset != first.dataset


def test_transcript_preference_file_trains_with_dpo_and_records_the_conversion(ws, tiny_model, tmp_path):
    pairs = demo_data.preference_rows(48, seed=4)

    def transcript(prompt, answer):
        turns = prompt + answer
        return "".join(f"\n\n{'Human' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in turns
                       if m["role"] != "system")

    path = write_jsonl(tmp_path / "hh.jsonl", [{"chosen": transcript(r["prompt"], r["chosen"]),
                                                "rejected": transcript(r["prompt"], r["rejected"])} for r in pairs])
    job = ft.train(model=str(tiny_model), dataset=str(path), technique="dpo", max_steps=2, logging_steps=1)
    v = catalog.get(ws, job.spec.dataset)
    assert v.kind == "preference" and v.source["path"] == str(path)
    assert any("Human:/Assistant: (HH-RLHF) transcript" in c for c in v.conversion)
    assert any("implicit prompt" in c for c in v.conversion)
    row = v.rows(0, 1)[0]
    assert row["prompt"][-1]["role"] == "user" and [m["role"] for m in row["chosen"]] == ["assistant"]
    job.wait(timeout=300)
    assert job.status == "succeeded", job.logs(tail=30)
    assert any("eval_loss" in m for m in job.metrics())


def test_more_shapes_are_read_and_their_conversion_recorded(ws):
    openai_pref = [{"input": {"messages": [{"role": "user", "content": f"q{i}"}], "tools": []},
                    "preferred_output": [{"role": "assistant", "content": "kind"}],
                    "non_preferred_output": [{"role": "assistant", "content": "curt"}]} for i in range(4)]
    v = catalog.add(ws, openai_pref, "oa", "dpo", eval_fraction=0)
    assert v.rows(0, 1)[0] == {"prompt": [{"role": "user", "content": "q0"}],
                               "chosen": [{"role": "assistant", "content": "kind"}],
                               "rejected": [{"role": "assistant", "content": "curt"}]}
    assert any("OpenAI fine-tuning input" in c for c in v.conversion)
    uf = [{"instruction": f"q{i}", "completions": [{"response": "best", "overall_score": 9},
                                                    {"response": "worst", "overall_score": 2},
                                                    {"response": "middle", "overall_score": 5}]} for i in range(3)]
    uf.append({"instruction": "tie", "completions": [{"response": "x", "overall_score": 4},
                                                      {"response": "y", "overall_score": 4}]})
    with pytest.raises(catalog.DatasetValidationError) as ei:  # a row that would be dropped is reported
        catalog.add(ws, uf, "uf", "dpo")
    assert "row 4:" in str(ei.value) and "all scoring 4" in str(ei.value)
    v = catalog.add(ws, uf, "uf", "dpo", drop_invalid=True, eval_fraction=0)
    assert v.rows(0, 1)[0] == {"prompt": "q0", "chosen": "best", "rejected": "worst"} and v.dropped == 1
    assert any("highest 'overall_score'" in c for c in v.conversion)
    styles = {"vicuna": "USER: hi ASSISTANT: hello</s>", "tags": "<|user|>\nhi</s>\n<|assistant|>\nhello</s>",
              "alpaca": "### Instruction:\nhi\n\n### Response:\nhello"}
    for name, text in styles.items():
        v = catalog.add(ws, [{"text": text}] * 3, name, "sft", eval_fraction=0)
        assert v.format == "messages" and v.rows(0, 1)[0]["messages"] == [
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], name
    with pytest.raises(catalog.DatasetImportError) as ei:  # no column could serve: no mapping is suggested
        catalog.add(ws, [{"score": 1, "id": 2}], "nums", "dpo")
    assert "No mapping can fix this" in str(ei.value) and "OpenAI" in str(ei.value)
    with pytest.raises(catalog.DatasetImportError) as ei:  # columns that could serve: the mapping that reads them
        catalog.add(ws, [{"q": "a", "good": "b", "bad": "c"}], "cols", "dpo")
    assert "mapping={'prompt': 'q', 'chosen': 'good', 'rejected': 'bad'}" in str(ei.value)


def test_csv_unclosed_quote_names_its_row_and_line(ws, tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('prompt,completion\nhi,there\n"oops,no close\nq,a\nq2,a2\n')
    with pytest.raises(catalog.DatasetImportError) as ei:
        catalog.add(ws, path, "q", "sft")
    assert "row 2 (line 3): a quoted field opened there is never closed" in str(ei.value)


# --- paths: where the submitter stands ----------------------------------------------------------------------

def _folder(tmp_path: Path, tiny_model: Path) -> Path:
    folder = tmp_path / "notebook"
    folder.mkdir()
    shutil.copytree(tiny_model, folder / "tiny-llama")
    write_jsonl(folder / "chat.jsonl", demo_data.sft_rows(16))
    return folder


def test_relative_paths_resolve_where_the_kernel_and_the_cli_stand(ws, tiny_model, tmp_path, monkeypatch):
    folder = _folder(tmp_path, tiny_model)
    monkeypatch.chdir(folder)
    spec = ft.preview({"model": "./tiny-llama", "dataset": "chat.jsonl", "output_dir": "out"})
    assert spec.model == str(folder / "tiny-llama") and spec.output_dir == str(folder / "out")
    assert catalog.get(ws, spec.dataset).source["path"] == str(folder / "chat.jsonl")
    with pytest.raises(ft.SpecError) as ei:
        ft.preview({"model": "./no-model", "dataset": "nothing.jsonl"})
    assert dict(ei.value.errors) == {"model": f"path {folder / 'no-model'} does not exist",
                                     "dataset": f"no such file or folder: {folder / 'nothing.jsonl'}"}
    (folder / "spec.yaml").write_text("model: ./tiny-llama\ndataset: chat.jsonl\nmax_steps: 1\n")
    monkeypatch.chdir(tmp_path)  # the CLI reads them from the shell's directory, not the kernel's
    out = subprocess.run([sys.executable, "-m", "jupyter_ft.cli", "submit", "spec.yaml"], cwd=folder, text=True,
                         capture_output=True, timeout=400)
    assert out.returncode == 0, out.stderr
    job = ft.get_job(out.stdout.strip().splitlines()[-1])
    job.cancel()
    assert job.spec.model == str(folder / "tiny-llama") and job.spec.dataset == spec.dataset


@pytest.fixture
def jp_server_config(jp_server_config):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ft": True}, "allow_unauthenticated_access": False}}


async def test_rest_reads_relative_paths_from_the_server_root(ws, jp_fetch, jp_root_dir, tiny_model, tmp_path):
    folder = _folder(tmp_path, tiny_model)
    for name in ("tiny-llama", "chat.jsonl"):
        shutil.move(str(folder / name), str(Path(jp_root_dir) / name))
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as ei:
        await jp_fetch("jupyter-ft", "api", "jobs", method="POST", request_timeout=300,
                       body=json.dumps({"model": "./tiny-llama", "dataset": "missing.jsonl"}))
    body = json.loads(ei.value.response.body)
    assert ei.value.code == 400 and body["errors"] == [
        {"field": "dataset", "message": f"no such file or folder: {Path(jp_root_dir) / 'missing.jsonl'}"}]
    r = await jp_fetch("jupyter-ft", "api", "jobs", method="POST", request_timeout=300,  # imports, on a busy machine
                       body=json.dumps({"model": "./tiny-llama", "dataset": "chat.jsonl", "max_steps": 1}))
    job = ft.get_job(json.loads(r.body)["job"]["id"])
    job.cancel()
    assert job.spec.model == str(Path(jp_root_dir) / "tiny-llama") and job.spec.dataset.startswith("chat@")


# --- the hub, offline ------------------------------------------------------------------------------------

def test_hub_ids_offline_are_refused_within_seconds(ws, tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t = time.perf_counter()
    with pytest.raises(ft.SpecError) as ei:
        ft.preview({"model": "no-such-org/no-such-model", "dataset": "no-such-org/no-such-data"})
    assert time.perf_counter() - t < 5
    errors = dict(ei.value.errors)
    assert "offline (HF_HUB_OFFLINE is set)" in errors["model"] and "not in the local cache" in errors["model"]
    assert "offline (HF_HUB_OFFLINE is set)" in errors["dataset"]


# --- evaluation, sized ----------------------------------------------------------------------------------------

def test_evaluation_is_sized_to_a_tenth_of_training():
    # the measured case: a 1.24B DPO job, max_steps=2, batch 1 x accum 8, 120 held-out pairs
    spec = parse_spec({"model": "m", "dataset": "d", "technique": "dpo", "max_steps": 2, "batch_size": 1,
                       "grad_accum": 8})
    sized = sizing.size_eval(spec, 1080, 120)
    assert sized.eval_rows == 3 and sized.eval_batch_size == 2  # 3 pairs at ~1/2 of a training pair: <= 10% of 16
    assert "3 of 120 held-out rows" in sized.auto["eval_rows"] and "10%" in sized.auto["eval_rows"]
    long = sizing.size_eval(parse_spec({"model": "m", "dataset": "d", "epochs": 3, "batch_size": 8,
                                        "grad_accum": 1}), 9000, 1000)
    steps, evals = 3 * 1125, 10
    assert long.eval_rows == min(1000, int(0.1 * steps * 8 * 3 / evals))  # SFT: an eval row ~1/3 of a training row
    kept = sizing.size_eval(parse_spec({"model": "m", "dataset": "d", "eval_rows": 50, "max_steps": 2}), 100, 20)
    assert kept.eval_rows == 50 and "eval_rows" not in kept.auto  # an explicit choice stays
    off = sizing.size_eval(parse_spec({"model": "m", "dataset": "d", "eval_fraction": 0}), 100, 0)
    assert off.eval_rows is None and off.eval_batch_size is None


def test_door_identity_covers_every_file_of_a_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.jsonl").write_text('{"text": "a"}\n')
    before = door.identity(tmp_path / "data")
    (tmp_path / "data" / "b.jsonl").write_text('{"text": "b"}\n')
    assert door.identity(tmp_path / "data") != before and len(door.identity(tmp_path / "data")) == 2
