"""`%load_ext jupyter_ft` magics through a real IPython `InteractiveShell`."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import jupyter_ft as ft
from jupyter_ft.core.jobs import store as jobstore


@pytest.fixture
def shell(ws):
    sh = InteractiveShell.instance()
    sh.run_cell("%load_ext jupyter_ft", store_history=False)
    yield sh
    sh.user_ns.pop("ft_job", None)


def run(sh, capsys, code: str):
    result = sh.run_cell(code, store_history=False)
    out, err = capsys.readouterr()
    return result, out, err


def test_help_documents_every_command_and_option(shell):
    doc = shell.find_line_magic("ft").__doc__
    for usage in ("%ft jobs", "%ft status ID", "%ft logs ID [--tail N]", "%ft cancel ID", "%ft chart ID [ID ...]",
                  "%ft form [ID]", "%ft datasets", "--tail"):
        assert usage in doc
    train = shell.find_cell_magic("ft_train").__doc__
    for opt in ("--wait", "--set FIELD=VALUE", "--timeout", "--no-chart", "--var", "spec_file"):
        assert opt in train
    chat = shell.find_cell_magic("ft_chat").__doc__
    for opt in ("--models", "--base", "--max-new-tokens", "--temperature", "--top-p", "--wait", "---"):
        assert opt in chat


@pytest.mark.parametrize("code, message", [
    ("%ft status no-such-job", "no job with id 'no-such-job'"),
    ("%ft logs", "%ft logs needs a job id"),
    ("%ft frobnicate", "invalid choice: 'frobnicate'"),
    ("%%ft_train\nmodel: m\ndataset: d.jsonl\nlearning_rate: -1\nlora: {r: 0}\n",
     "lora.r: Input should be greater than 0; learning_rate: Input should be greater than 0"),
    ("%%ft_train\nmodel: [unclosed\n", "the cell is not valid YAML"),
    ("%%ft_train --set max_steps\nmodel: m\ndataset: d\n", "--set 'max_steps': expected FIELD=VALUE"),
    ("%ft_train missing.yaml", "file not found: missing.yaml"),
    ("%%ft_chat --models base\nHello", "model 'base': no adapter names it"),
    ("%%ft_chat\nHello", "the following arguments are required: --models"),
    ("%%ft_chat --models ./nowhere\nHello", "model './nowhere': no such job, folder or model"),
])
def test_errors_are_one_clear_line(shell, capsys, code, message):
    result, out, err = run(shell, capsys, code)
    assert isinstance(result.error_in_exec, UsageError)
    assert message in err and "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1, err
    assert ft.jobs() == []


def test_jobs_status_logs_cancel_datasets(shell, capsys, ws):
    jobstore.insert(ws, job_id="sft-queued-1", kind="train", technique="sft", name="q", device="cpu",
                    spec={"model": "m", "dataset": "d.jsonl"}, submitted={"model": "m", "dataset": "d.jsonl"},
                    max_attempts=3)
    result, out, _ = run(shell, capsys, "%ft jobs")
    assert "sft-queued-1" in out and "queued" in out and "d.jsonl" in out
    result.result.close()  # stops its refresh thread
    _, out, _ = run(shell, capsys, "%ft status sft-queued-1")
    assert out.startswith("sft-queued-1 (sft, q): queued") and "model m · dataset d.jsonl" in out
    _, out, _ = run(shell, capsys, "%ft logs sft-queued-1")
    assert "has no log yet" in out
    jid = "sft-queued-1"
    shell.user_ns["jid"] = jid
    _, out, _ = run(shell, capsys, "%ft cancel {jid}")  # IPython expands {variables} in magic lines
    assert out.strip() == "sft-queued-1: cancelled" and jobstore.get(ws, jid).state == "cancelled"
    _, out, _ = run(shell, capsys, "%ft datasets")
    assert "catalog is empty" in out
    version = ft.datasets.add_demo("capitals")
    result, out, _ = run(shell, capsys, "%ft datasets")
    assert f"capitals@{version.version}  sft/messages" in out and type(result.result).__name__ == "VBox"
    result, out, _ = run(shell, capsys, "%ft form sft-queued-1")
    assert type(result.result).__name__ == "JobForm" and "model: m" in out


def test_train_cell_submits_waits_charts_then_chat_compares(shell, capsys, ws, tiny_model, sft_file):
    cell = f"""%%ft_train --wait --set max_steps=30 --set lora.r=4 --timeout 300
model: {tiny_model}
dataset: {sft_file}
learning_rate: 5e-3
logging_steps: 5
name: from-a-cell
"""
    result, out, err = run(shell, capsys, cell)
    assert result.success, err
    job = shell.user_ns["ft_job"]
    assert isinstance(job, ft.Job) and job.status == "succeeded"
    assert job.record.submitted["max_steps"] == 30 and job.record.spec["lora"]["r"] == 4
    assert f"submitted {job.id}" in out and f"{job.id} succeeded in" in out and "loss " in out
    assert "LiveChart" in out  # the chart was displayed (its text form in a terminal shell)

    _, out, _ = run(shell, capsys, "%ft status {ft_job.id}")
    assert "succeeded · step 30/30" in out and "MLflow run" in out and "output:" in out
    _, out, _ = run(shell, capsys, "%ft logs {ft_job.id} --tail 3")
    assert len(out.strip().splitlines()) == 3 and "succeeded" in out
    result, out, _ = run(shell, capsys, "%ft chart {ft_job.id}")
    chart = result.result
    assert chart.wait(timeout=30)
    assert [s for s, _ in chart.trace_points(job, "loss")] == [5, 10, 15, 20, 25, 30]

    result, out, err = run(shell, capsys, "%%ft_chat --models base,{ft_job.id} --wait --max-new-tokens 6\n"
                                          "What is the capital of France?\n---\nName the capital of Peru.")
    assert result.success, err
    assert "generation: max_new_tokens 6 · greedy" in out
    assert out.count("prompt: ") == 2 and "  base: '" in out and "  from-a-cell: '" in out
