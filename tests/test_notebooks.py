"""The walk-through notebooks run offline, top to bottom, on the tiny model (as CI runs them: nbclient, headless)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dpo_human_like", "rlaif_human_like", "rlvr_gsm8k"])
def test_notebook_runs_offline(ws, tmp_path, name):
    import nbformat
    from nbclient import NotebookClient

    shutil.copytree(NOTEBOOKS / "data", tmp_path / "data")
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    text = "\n".join(o.get("text", "") for c in book.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert ": succeeded" in text
    assert all(j.status == "succeeded" for j in __import__("jupyter_ft").jobs())
