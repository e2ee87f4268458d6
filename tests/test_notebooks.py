"""The notebooks in `notebooks/` run end to end headless (nbclient, a real ipykernel), offline: the human-like ones
on SmolLM2-135M-Instruct (fetched once into the test cache, see `fetched_smollm2`), the others on the tiny model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o["text"])
        elif "data" in o:
            out.append(o["data"].get("text/plain", ""))
    return "".join(out)


@pytest.fixture(autouse=True)
def one_thread_kernels(monkeypatch):
    """Notebook kernels start torch with one thread, as conftest pins the jobs': an engine generating inside the
    kernel (the tuned-vs-base cells) otherwise spins two threads on two cores beside a job or another test."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


HUMAN_LIKE = ("dpo_human_like", "evaluate_human_like", "deploy_playground")  # on SmolLM2-135M-Instruct


@pytest.fixture
def fetched_smollm2(ws, smollm2_dir):
    """The test's workspace knows SmolLM2 as fetched: its fetch record points at the folder the test cache converted
    once, so a notebook's `ft.models.fetch(...)` finds it instead of converting the GGUF file again (a minute or two
    of CPU per notebook; fetching itself is tested in tests/test_models_fetch.py)."""
    from tests.real_model import CACHE

    name = "smollm2-135m-instruct.json"
    dest = ws.root / "models" / "fetched"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CACHE / "workspace" / "models" / "fetched" / name, dest / name)
    return smollm2_dir


@pytest.mark.slow
def test_ui_walkthrough_dpo_runs_offline_end_to_end(ws, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JFT_WALKTHROUGH_DIR", str(tmp_path / "walkthrough"))
    monkeypatch.setenv("JFT_WALKTHROUGH_STEPS", "40")
    nb = nbformat.read(NOTEBOOKS / "ui_walkthrough.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not any(o.get("output_type") == "error" for o in c.get("outputs", [])) for c in code)
    text = "\n".join(_text(c) for c in code)
    assert "batch_size: batch 8" in text                 # the form showed the auto-sized values and why
    assert "walkthrough: succeeded · step 40/40" in text   # the chart's summary after the run
    assert "'base': " in text and "'walkthrough': " in text  # compare answered with both models
    assert "succeeded · step 40/40" in text and "generation: max_new_tokens 16 · greedy" in text  # the magics
    (job,) = __import__("jupyter_ft").jobs(ws)
    assert job.status == "succeeded" and job.record.submitted["max_steps"] == 40
    assert job.record.technique == "dpo" and job.record.spec["dataset"].startswith("human-like@")  # a pinned version
    margins = [m["rewards/margins"] for m in job.metrics() if "rewards/margins" in m]
    assert margins[-1] > margins[0]                        # DPO learned to prefer the human-like answers
    assert os.path.isdir(job.output_dir)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dpo_human_like", "rlaif_human_like", "rlvr_gsm8k"])
def test_notebook_runs_offline(ws, tmp_path, name, monkeypatch, request):
    import nbformat
    from nbclient import NotebookClient

    if name in HUMAN_LIKE:
        request.getfixturevalue("fetched_smollm2")

    monkeypatch.setenv("JFT_DPO_STEPS", "3")  # dpo_human_like: a few steps of the real model, not its time budget

    shutil.copytree(NOTEBOOKS / "data", tmp_path / "data")
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    text = "\n".join(o.get("text", "") for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert ": succeeded" in text
    assert all(j.status == "succeeded" for j in __import__("jupyter_ft").jobs())


@pytest.mark.slow
@pytest.mark.timeout(900)  # a 2-step DPO job and two evaluations; ~2 min on an idle 2-core machine
def test_evaluate_human_like_runs_offline(ws, tmp_path, monkeypatch, fetched_smollm2):
    """The seed's evaluation demo: base vs a DPO adapter with a pairwise judge, rubric scores, a custom evaluator
    and the shipped multiple-choice set (few steps and samples here)."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("JFT_EVAL_DEMO_STEPS", "2")  # ~25 s a step of the real model on one thread
    monkeypatch.setenv("JFT_EVAL_DEMO_SAMPLES", "6")
    shutil.copytree(NOTEBOOKS / "data", tmp_path / "data")
    book = nbformat.read(NOTEBOOKS / "evaluate_human_like.ipynb", as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in book.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    text = "\n".join(_text(c) for c in code)
    assert "EvalResults" in text and "pairwise judge: dpo-human-like wins" in text
    assert "rubric · base: human_likeness" in text and "relevance" in text and "contractions" in text
    assert "multiple_choice · base: acc " in text and "facts-mc" in text
    import jupyter_ft as ft

    evals = {j.record.name: j for j in ft.eval_jobs(ws)}
    assert set(evals) == {"base-vs-dpo", "facts-mc"} and all(j.status == "succeeded" for j in evals.values())
    results = ft.eval_results(evals["base-vs-dpo"].id)
    (pair,) = results["pairwise"]
    assert pair["n"] == 6 and 0 <= pair["consistency"] <= 1 and pair["win"] + pair["tie"] + pair["loss"] == pytest.approx(1)
    assert {m["evaluator"] for m in results["metrics"]} >= {"rubric", "contractions"}
    assert any(s["reasons"] for s in results["samples"])  # the judge's reasons are kept per answer


# `notebooks/deploy_playground.ipynb`: a short DPO adapter registered, deployed beside the base on one endpoint, the
# playground's streamed columns, a blind vote turned into a preference dataset, the official `openai` client,
# `%%ft_chat --endpoint`, and the endpoint stopped.
@pytest.mark.slow
@pytest.mark.timeout(1200)  # 8 DPO steps of the real model (~25 s each alone) and an endpoint, on a shared machine
def test_deploy_playground_notebook_runs_offline(ws, tmp_path, monkeypatch, fetched_smollm2):
    import nbformat
    from nbclient import NotebookClient

    import jupyter_ft as ft
    from jupyter_ft.core.deploy import playground as pg

    monkeypatch.setenv("JFT_PLAYGROUND_STEPS", "8")  # fewer: the first answer tokens may not differ to vote on
    monkeypatch.setenv("JFT_PLAYGROUND_TOKENS", "24")
    book = nbformat.read(NOTEBOOKS / "deploy_playground.ipynb", as_version=4)
    try:
        NotebookClient(book, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for ep in ft.endpoints():  # never leave a server behind, whatever the notebook reached
            if ep.state not in ("stopped", "failed"):
                ep.stop()
    code = [c for c in book.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    text = "\n".join(_text(c) for c in code)
    assert "registered as humanlike@1" in text and "state:  running" in text
    assert "prompt: How are you today?" in text and "revealed: A = " in text
    assert "['humanlike@1 @ playground']" in text  # a served model named by its registry ref
    assert "playground-votes@" in text and "ties left out: 0" in text
    assert "adapter says:" in text and "streamed:" in text
    assert "state: stopped" in text
    (vote,) = pg.votes(ws)
    assert vote.winner == "A" and vote.pair_id and vote.endpoint == "playground"
    assert len(vote.models) == 2 and all(vote.answers.values())
