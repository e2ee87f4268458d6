"""Jobs reference catalog versions: pinned at submission, validated there, trained from the stored split."""

from __future__ import annotations

import pytest

import jupyter_ft as ft
from jupyter_ft.core.datasets import catalog, demo_data

from .conftest import write_jsonl


def test_name_is_pinned_to_the_latest_version_at_submission(ws, broken_model):
    old = ft.datasets.add(demo_data.sft_rows(20), name="caps", technique="sft")
    new = ft.datasets.add(demo_data.sft_rows(30), name="caps", technique="sft", eval_fraction=0.2)
    job = ft.train(model=str(broken_model), dataset="caps")  # fails fast once run; we read its spec
    spec = job.record.spec
    assert spec["dataset"] == new.ref and job.record.submitted["dataset"] == "caps"
    assert spec["eval_fraction"] == 0.2 and "latest version at submission" in spec["auto"]["dataset"]
    assert "6 eval rows" in spec["auto"]["eval_fraction"]
    pinned = ft.preview({"model": str(broken_model), "dataset": f"caps@{old.version[:6]}"})
    assert pinned.dataset == old.ref and pinned.eval_fraction == 0.1
    off = ft.preview({"model": str(broken_model), "dataset": "caps", "eval_fraction": 0})
    assert off.eval_fraction == 0 and off.eval_rows is None and "no evaluation" in off.auto["eval_fraction"]


def test_bad_references_are_spec_errors_on_dataset(ws, tmp_path, broken_model):
    ft.datasets.add(demo_data.sft_rows(10), name="caps", technique="sft")
    ft.datasets.add_demo("human-like", n=50)
    model = str(broken_model)
    cases = {
        "caps@abcdef": "dataset 'caps' has no version 'abcdef'",
        "nope@abcdef": "no dataset named 'nope' in the catalog",
        "caps@%": "dataset 'caps' has no version '%'",  # LIKE wildcards are literal
        "caps@_": "dataset 'caps' has no version '_'",
        "./nowhere.jsonl": "no such file or folder: " + str(tmp_path / "nowhere.jsonl"),
    }
    for ref, text in cases.items():
        with pytest.raises(ft.SpecError) as ei:
            ft.train(model=model, dataset=ref, technique="sft", base_dir=tmp_path)
        (field, msg), = ei.value.errors
        assert field == "dataset" and text in msg
    with pytest.raises(ft.SpecError, match="holds preference data"):
        ft.train(model=model, dataset="human-like", technique="sft")
    with pytest.raises(ft.SpecError) as ei:
        ft.train(model=model, dataset="caps", eval_fraction=0.3)
    assert ei.value.errors[0][0] == "eval_fraction" and "has its own split" in ei.value.errors[0][1]
    with pytest.raises(ft.SpecError) as ei:  # both at once: a missing model does not hide a bad dataset
        ft.train(model=str(tmp_path / "no-model"), dataset="nope@1")
    assert dict(ei.value.errors).keys() == {"model", "dataset"}
    assert ft.jobs() == []
    # a file path is imported into the catalog and pinned
    path = write_jsonl(tmp_path / "caps.jsonl", demo_data.sft_rows(4))
    spec = ft.preview({"model": model, "dataset": str(path)})
    assert spec.dataset.startswith("caps@") and catalog.get(ws, spec.dataset).source["path"] == str(path)


def test_job_trains_on_the_stored_split_and_logs_the_version(ws, tiny_model):
    from mlflow.tracking import MlflowClient

    from .test_jobs import wait_forwarded

    rows = demo_data.sft_rows(40)
    v = ft.datasets.add([{"q": r["messages"][0]["content"], "a": r["messages"][1]["content"]} for r in rows],
                        name="caps-qa", technique="sft", mapping={"prompt": "q", "completion": "a"}, eval_fraction=0.25)
    job = ft.train(model=str(tiny_model), dataset="caps-qa", max_steps=4, logging_steps=2, learning_rate=5e-3)
    job.wait(timeout=240)
    assert job.status == "succeeded", job.logs(tail=40)
    log = job.logs()
    assert f"'version': '{v.ref}'" in log and "'num_rows': 30" in log and "'num_eval_rows': 10" in log
    wait_forwarded(ws, job)
    run = MlflowClient(job.record.tracking_uri).get_run(job.run_id)
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == "caps-qa" and inp.dataset.digest == v.version
    assert '"catalog": "' + v.ref in inp.dataset.source and run.data.params["dataset"] == v.ref
    assert any("eval_loss" in m for m in job.metrics())  # the version's eval split was evaluated


def test_catalog_version_removed_after_submission_fails_fast(ws, tiny_model):
    import shutil

    v = ft.datasets.add(demo_data.sft_rows(10), name="caps", technique="sft")
    shutil.rmtree(v.path)
    job = ft.train(model=str(tiny_model), dataset=v.ref, max_steps=2)
    job.wait(timeout=120)
    assert job.status == "failed" and f"the files of {v.ref} are missing" in job.error
    assert catalog.get(ws, v.ref) == v  # the row stays; only its files went missing
