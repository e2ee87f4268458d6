"""The spine: detached SFT jobs through the scheduler, real TRL training, MLflow tracking, failure and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import jupyter_ft as ft
from jupyter_ft.core import procs
from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.jobs.daemon import scheduler_pid

from .conftest import write_jsonl


def wait_for(cond, timeout=120, poll=0.2, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


def mlflow_run(job):
    from mlflow.tracking import MlflowClient

    return MlflowClient(job.record.tracking_uri).get_run(job.run_id)


def wait_forwarded(ws, job, timeout=60):
    """Wait until the scheduler has sent all of the job's events to MLflow."""
    wait_for(lambda: ws.conn.execute("SELECT COUNT(*) FROM events WHERE job_id = ? AND forwarded = 0",
                                     (job.id,)).fetchone()[0] == 0, timeout, what="events forwarded")


def test_sft_lora_job_learns_and_is_tracked(ws, tiny_model, sft_file):
    job = ft.train(model=str(tiny_model), dataset=str(sft_file), technique="sft", lora=True,
                   max_steps=60, learning_rate=5e-3, logging_steps=5)
    assert job.run_id  # known at submission
    assert job.status in ("queued", "running")
    job.wait(timeout=400)
    assert job.status == "succeeded", job.logs(tail=40)
    losses = [m["loss"] for m in job.metrics() if "loss" in m]
    assert len(losses) == 12
    assert losses[-1] < losses[0] * 0.6, losses
    assert job.progress["step"] == 60 and job.progress["fraction"] == 1.0
    assert (job.output_dir / "adapter_config.json").is_file()
    log = job.logs()
    assert "step 60/60" in log and "succeeded" in log

    spec = job.record.spec  # stored resolved spec shows the auto choices
    assert spec["batch_size"] == 8 and spec["precision"] == "fp32" and "batch_size" in spec["auto"]
    assert job.record.submitted == {"model": str(tiny_model), "dataset": str(sft_file), "technique": "sft",
                                    "lora": True, "max_steps": 60, "learning_rate": 5e-3, "logging_steps": 5}

    wait_forwarded(ws, job)
    run = mlflow_run(job)
    assert run.info.status == "FINISHED"
    assert run.data.params["technique"] == "sft" and run.data.params["lora.r"] == "8"
    assert run.data.tags["jupyter_ft.job_id"] == job.id and run.data.tags["jupyter_ft.version"] == ft.__version__
    from mlflow.tracking import MlflowClient

    client = MlflowClient(job.record.tracking_uri)
    history = client.get_metric_history(job.run_id, "loss")
    assert [h.step for h in history] == list(range(5, 61, 5))
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == "capitals" and inp.dataset.digest == job.spec.dataset.split("@")[1]  # the version id
    arts = {a.path for a in client.list_artifacts(job.run_id, "adapter")}
    assert "adapter/adapter_model.safetensors" in arts and "adapter/tokenizer.json" in arts


def test_missing_model_is_refused_and_a_broken_one_fails_fast(ws, sft_file, tmp_path, broken_model):
    with pytest.raises(ft.SpecError) as ei:  # refused at submission, naming the field: nothing is queued
        ft.train(model=str(tmp_path / "no-such-model"), dataset=str(sft_file))
    assert ei.value.errors == [("model", f"path {tmp_path / 'no-such-model'} does not exist")]
    assert ft.jobs() == []
    job = ft.train(model=str(broken_model), dataset=str(sft_file))
    t = time.time()
    job.wait(timeout=90)
    assert job.status == "failed"
    assert "model: cannot load a tokenizer" in job.error and str(broken_model) in job.logs()
    assert job.record.attempt == 1  # bad input is not retried
    assert time.time() - t < 60  # the job's imports, then the first load (a loaded 2-core machine: ~10-40 s)


def test_dataset_missing_columns_and_bad_rows(ws, tiny_model, tmp_path):
    cols = write_jsonl(tmp_path / "cols.jsonl", [{"score": 1, "label": "a"}] * 3)
    rows = [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}] * 4
    rows[2] = {"messages": "just a string"}
    bad = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(ft.SpecError) as ei:  # a local file's columns are read at submission: nothing is queued
        ft.train(model=str(tiny_model), dataset=str(cols))
    msg = dict(ei.value.errors)["dataset"]
    assert "'messages'" in msg and "score (int64), label (text)" in msg and "mapping={'text': 'label'}" in msg
    with pytest.raises(ft.SpecError) as ei:  # every row is checked at submission (the catalog's checks)
        ft.train(model=str(tiny_model), dataset=str(bad))
    msg = dict(ei.value.errors)["dataset"]
    assert "row 3:" in msg and "'messages'" in msg and str(bad) in msg
    assert ft.jobs() == []


def test_spec_errors_raise_before_queueing(ws):
    with pytest.raises(ft.SpecError) as ei:
        ft.train(model="m", dataset="d.jsonl", technique="magic", learning_rate=-1)
    assert {"technique", "learning_rate"} <= dict(ei.value.errors).keys()
    assert ft.jobs() == []


def test_concurrent_submissions_all_land(ws, tmp_path, broken_model, monkeypatch):
    """Threads here and processes elsewhere submit at the same moment; every job is queued exactly once."""
    model = str(broken_model)  # they fail fast once run; here we only count what lands
    write_jsonl(tmp_path / "d.jsonl", [{"text": f"row {i}"} for i in range(4)])
    monkeypatch.chdir(tmp_path)  # the relative dataset path is read from here, in this process and the others
    barrier = threading.Barrier(4)
    ids: list[str] = []

    def submit():
        barrier.wait()
        ids.append(ft.submit({"model": model, "dataset": "d.jsonl", "name": "t"}, ws).id)

    code = ("import sys, jupyter_ft as ft; from jupyter_ft.sdk.jobs import workspace; "
            f"print(ft.submit({{'model': {model!r}, 'dataset': 'd.jsonl'}}, workspace(sys.argv[1])).id)")
    subs = [subprocess.Popen([sys.executable, "-c", code, str(ws.root)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
            for _ in range(2)]
    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in subs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        ids.append(out.strip().splitlines()[-1])
    assert len(set(ids)) == 6
    assert {j.id for j in ft.jobs()} == set(ids)


def test_new_process_sees_every_job(ws, tiny_model, sft_file):
    done = ft.train(model=str(tiny_model), dataset=str(sft_file), max_steps=5).wait(timeout=120)
    queued = ft.train(model=str(tiny_model), dataset=str(sft_file), max_steps=5)
    queued.cancel()
    out = subprocess.run([sys.executable, "-m", "jupyter_ft.cli", "--root", str(ws.root), "jobs", "--json"],
                         capture_output=True, text=True, check=True)
    seen = {j["id"]: j["state"] for j in json.loads(out.stdout)}
    assert seen == {done.id: "succeeded", queued.id: "cancelled"}


def test_cancel_running_job(ws, tiny_model, sft_file):
    job = ft.train(model=str(tiny_model), dataset=str(sft_file), max_steps=100000, logging_steps=50)
    wait_for(lambda: job.record.step > 0, what="training to start")
    t = time.time()
    assert job.cancel() == "cancelling"
    job.wait(timeout=30)
    assert job.status == "cancelled" and time.time() - t < 20
    wait_for(lambda: not procs.alive(job.record.pid, job.record.pid_started), timeout=10, what="process exit")
    wait_forwarded(ws, job)
    assert mlflow_run(job).info.status == "KILLED"


@pytest.mark.slow
def test_sigkill_resumes_from_checkpoint_with_same_total_steps(ws, tiny_model, sft_file):
    job = ft.train(model=str(tiny_model), dataset=str(sft_file), max_steps=400, checkpoint_every=50,
                   logging_steps=10, learning_rate=5e-3)
    wait_for(lambda: job.record.step >= 120, timeout=400, what="step 120")
    rec = job.record
    assert procs.signal_group(rec.pid, signal.SIGKILL)
    job.wait(timeout=600)
    rec = job.record
    assert rec.state == "succeeded", job.logs(tail=40)
    assert rec.attempt == 2 and rec.step == 400
    log = job.logs()
    assert "died (killed by SIGKILL)" in log and "resuming from checkpoint-" in log
    resumed_at = int(log.split("resuming from checkpoint-")[1].split()[0])
    assert resumed_at >= 100
    assert f"starting at step {resumed_at}" in log
    steps = [m["step"] for m in job.metrics() if "loss" in m]
    assert steps == list(range(10, 401, 10))  # one point per step: the re-run steps replace the dead attempt's
    raw = [e["values"]["num_tokens"] for e in jobstore.events(ws, job.id, "metrics") if "num_tokens" in e["values"]]
    tokens = [m["num_tokens"] for m in job.metrics() if "num_tokens" in m]
    assert any(b < a for a, b in zip(raw, raw[1:])), raw  # TRL restarted its count in the resumed attempt...
    assert tokens == sorted(tokens) and tokens[-1] > max(raw)  # ...and the history continues it: no sawtooth


@pytest.mark.slow
def test_job_survives_its_scheduler(ws, tiny_model, sft_file):
    """Killing the scheduler (like restarting Jupyter) neither stops the job nor loses its outcome."""
    job = ft.train(model=str(tiny_model), dataset=str(sft_file), max_steps=200, logging_steps=20)
    wait_for(lambda: job.record.step > 0, timeout=300, what="training to start")
    os.kill(scheduler_pid(ws), signal.SIGKILL)
    wait_for(lambda: scheduler_pid(ws) is None, what="scheduler gone", timeout=10)
    assert procs.alive(job.record.pid, job.record.pid_started)
    job.wait(timeout=600)  # wait() restarts a scheduler; the job's own watchdog does too
    assert job.status == "succeeded" and job.record.attempt == 1
    wait_forwarded(ws, job)
    assert mlflow_run(job).info.status == "FINISHED"
