"""The README's Python examples run as written, with relative paths, from a folder holding what they name.

Every ```python block of README.md is run, statement by statement, in one namespace, from a temporary folder that
holds `chat.jsonl` and `gsm8k.jsonl` (the files the examples name). A statement marked `# needs a network` is
skipped (this machine has none); nothing else is. So the README cannot drift from the code again.
"""

from __future__ import annotations

import ast
import linecache
import re
import shutil
import time
from pathlib import Path

import pytest

from .conftest import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
NETWORK = "# needs a network"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number, source) of every ```python block."""
    return [(text[:m.start()].count("\n") + 2, m.group(1)) for m in re.finditer(r"```python\n(.*?)```", text, re.S)]


def statements(source: str) -> list[tuple[int, str, bool]]:
    """(line, source, needs a network) of each top-level statement of a block."""
    lines = source.splitlines()
    out = []
    for node in ast.parse(source).body:
        seg = "\n".join(lines[node.lineno - 1:node.end_lineno])
        out.append((node.lineno, seg, NETWORK in seg))
    return out


def test_readme_marks_only_hub_ids_as_needing_a_network():
    blocks = python_blocks((ROOT / "README.md").read_text())
    assert len(blocks) >= 4
    marked = [seg for _, src in blocks for _, seg, net in statements(src) if net]
    assert marked and all(re.search(r'"[\w.-]+/[\w.-]+"', seg) for seg in marked)  # each names a hub id


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_readme_python_examples_run_as_written(ws, tmp_path, monkeypatch):
    from jupyter_ft.core.datasets import demo_data

    folder = tmp_path / "notebook-folder"
    folder.mkdir()
    write_jsonl(folder / "chat.jsonl", demo_data.sft_rows(64))
    shutil.copy(ROOT / "notebooks" / "data" / "gsm8k_test_sample.jsonl", folder / "gsm8k.jsonl")
    monkeypatch.chdir(folder)
    ns: dict = {}
    for first, block in python_blocks((ROOT / "README.md").read_text()):
        for line, seg, net in statements(block):
            if net:
                continue
            name = f"<README.md line {first + line - 1}>"
            linecache.cache[name] = (len(seg), None, seg.splitlines(True), name)  # as IPython does for a cell
            t = time.monotonic()
            try:
                exec(compile(seg, name, "exec"), ns)
            except Exception as exc:
                raise AssertionError(f"README.md line {first + line - 1}: {seg!r} raised {exc!r}") from exc
            print(f"{time.monotonic() - t:6.1f} s  README.md line {first + line - 1}: {seg.splitlines()[0][:70]}")
        if "job.wait()" in block and "job" in ns:  # the first example: it trained, from relative paths
            job = ns["job"]
            assert job.status == "succeeded", job.logs(tail=30)
            assert job.spec.model == str(folder / "tiny-llama") and job.spec.dataset.startswith("chat@")
            assert any("eval_loss" in m for m in job.metrics())
