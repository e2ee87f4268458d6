"""`notebooks/deploy_playground.ipynb` runs end to end headless (nbclient, a real ipykernel), offline on the tiny
model: a short DPO adapter registered, deployed beside the base on one endpoint, the playground's streamed
columns, a blind vote turned into a preference dataset, the official `openai` client, `%%ft_chat --endpoint`, and
the endpoint stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "deploy_playground.ipynb"


def _text(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o["text"])
        elif "data" in o:
            out.append(o["data"].get("text/plain", ""))
    return "".join(out)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_deploy_playground_notebook_runs_offline(ws, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    import jupyter_ft as ft
    from jupyter_ft.core import playground as pg

    monkeypatch.setenv("JFT_PLAYGROUND_STEPS", "4")
    book = nbformat.read(NOTEBOOK, as_version=4)
    try:
        NotebookClient(book, timeout=300, kernel_name="python3",
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
