"""The docs site builds, and every Python example in it and in the README runs as written.

- `mkdocs build --strict` (the real mkdocs, with the API reference read from this checkout's docstrings) must
  pass: a broken link, a missing anchor, a page left out of the nav or a reference that does not resolve fails it.
- Every ```python block of README.md and of each page under docs/ is run, statement by statement, in one namespace
  per page, from a temporary folder that holds what the examples name: `chat.jsonl`, `gsm8k.jsonl` and the tiny
  model `tiny-llama` (as the quick start makes it), with an empty workspace of its own. A statement marked
  `# needs a network` is skipped (this machine has none) and must name a hub id; nothing else is skipped. So the
  docs cannot drift from the code.
"""

from __future__ import annotations

import ast
import linecache
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import write_jsonl

ROOT = Path(__file__).resolve().parent.parent
NETWORK = "# needs a network"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


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


def name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


PAGES_WITH_PYTHON = [p for p in PAGES if python_blocks(p.read_text())]


def test_mkdocs_build_strict(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
                           "--site-dir", str(tmp_path / "site")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    site = tmp_path / "site"
    assert (site / "index.html").is_file() and (site / "images" / "studio.png").is_file()
    reference = (site / "reference" / "index.html").read_text()
    import jupyter_ft as ft

    # every public name of `import jupyter_ft as ft` is documented, under the module that defines it
    for name, module in ft._PUBLIC.items():
        if not name.startswith("_"):
            assert f'id="{module}.{name}"' in reference or f'id="{module}"' in reference and name in reference, \
                f"ft.{name} ({module}) is missing from the API reference"
    for name, module in ft._SUBMODULES.items():
        assert f'id="{module}"' in reference, f"ft.{name} ({module}) is missing from the API reference"


def test_every_page_is_in_the_nav_and_the_readme_links_resolve():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs").rglob("*.md"):
        assert page.relative_to(ROOT / "docs").as_posix() in nav, f"{name(page)} is not in mkdocs.yml's nav"
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for target in re.findall(r"\]\(((?:docs/)[^)#\s]+)", readme):
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_examples_mark_only_hub_ids_as_needing_a_network():
    assert {"README.md", "docs/quickstart.md", "docs/datasets.md"} <= {name(p) for p in PAGES_WITH_PYTHON}
    marked = [seg for p in PAGES for _, src in python_blocks(p.read_text()) for _, seg, net in statements(src) if net]
    assert marked and all(re.search(r'"[\w.-]+/[\w.-]+"', seg) for seg in marked)  # each names a hub id


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    import jupyter_ft as ft

    folder = tmp_path_factory.mktemp("docs-model") / "tiny-llama"
    ft.make_tiny_model(str(folder))
    return folder


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables made, copied into each page's workspace: MLflow's schema migrations
    take ~5-10 s per new store, which would otherwise be paid once per page. The examples still create every
    experiment, run and registered model themselves."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("docs-mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments(max_results=1)
    return db


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("page", PAGES_WITH_PYTHON, ids=name)
def test_python_examples_run_as_written(page, ws, tiny_llama, empty_mlflow_db, tmp_path, monkeypatch):
    from jupyter_ft.core.datasets import demo_data

    if ws.tracking_uri == f"sqlite:///{ws.root / 'mlflow.db'}" and not (ws.root / "mlflow.db").exists():
        shutil.copy(empty_mlflow_db, ws.root / "mlflow.db")

    folder = tmp_path / "notebook-folder"
    folder.mkdir()
    write_jsonl(folder / "chat.jsonl", demo_data.sft_rows(64))
    shutil.copy(ROOT / "notebooks" / "data" / "gsm8k_test_sample.jsonl", folder / "gsm8k.jsonl")
    shutil.copytree(tiny_llama, folder / "tiny-llama")
    monkeypatch.chdir(folder)
    ns: dict = {}
    for first, block in python_blocks(page.read_text()):
        for line, seg, net in statements(block):
            if net:
                continue
            where = f"{name(page)} line {first + line - 1}"
            linecache.cache[f"<{where}>"] = (len(seg), None, seg.splitlines(True), f"<{where}>")  # as IPython does
            t = time.monotonic()
            try:
                exec(compile(seg, f"<{where}>", "exec"), ns)
            except Exception as exc:
                raise AssertionError(f"{where}: {seg!r} raised {exc!r}") from exc
            print(f"{time.monotonic() - t:6.1f} s  {where}: {seg.splitlines()[0][:70]}")
        if "job.wait()" in block and "job" in ns:  # it trained, from relative paths, on a pinned catalog version
            job = ns["job"]
            assert job.status == "succeeded", job.logs(tail=30)
            assert job.spec.model == str(folder / "tiny-llama") and "@" in job.spec.dataset
