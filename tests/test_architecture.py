"""The shape of the house: the dependency rule holds (import-linter contracts in pyproject.toml), no two modules
import each other even through a chain (imports inside functions counted), `import jupyter_ft` stays cheap, and
core's root stays small. Each check names what broke it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "trl", "peft", "mlflow", "ipywidgets", "plotly", "tornado", "jupyter_server")


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), over every import grimp found."""
    mods = sorted(m for m in graph.modules if m == "jupyter_ft" or m.startswith("jupyter_ft."))
    edges = {m: sorted(t for t in graph.find_modules_directly_imported_by(m) if t in mods
                       and not m.startswith(t + "."))  # a submodule reading its own package's __init__ is no circle
             for m in mods}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in mods:
        if m not in index:
            strong(m)
    return out


def test_no_import_circles_counting_imports_inside_functions():
    graph = grimp.build_graph("jupyter_ft", cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_sees_a_circle_made_inside_a_function():
    graph = grimp.ImportGraph()
    for m in ("jupyter_ft", "jupyter_ft.a", "jupyter_ft.b", "jupyter_ft.c"):
        graph.add_module(m)
    graph.add_import(importer="jupyter_ft.a", imported="jupyter_ft.b")
    graph.add_import(importer="jupyter_ft.b", imported="jupyter_ft.c")
    graph.add_import(importer="jupyter_ft.c", imported="jupyter_ft.a")
    assert _cycles(graph) == [["jupyter_ft.a", "jupyter_ft.b", "jupyter_ft.c"]]


def test_import_linter_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    run = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout and "4 kept" in run.stdout


def test_import_jupyter_ft_is_cheap():
    code = ("import json, sys; import jupyter_ft as ft; ft.__all__; "
            "print(json.dumps(sorted(m for m in sys.modules if m == 'jupyter_ft' or m.startswith('jupyter_ft.'))))")
    own = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert len(own) <= 5, own
    code = f"import json, sys; import jupyter_ft; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    heavy = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert heavy == []


def test_public_names_resolve_to_what_they_name():
    import jupyter_ft as ft

    for name in ft.__all__:
        assert getattr(ft, name) is not None, name
    assert ft.evaluate.__module__ == "jupyter_ft.sdk.evaluations" and ft.ui.__name__ == "jupyter_ft.widgets.ui"
    import jupyter_ft.evaluation  # noqa: F401  (the job-side package never hides the SDK call)

    assert callable(ft.evaluate) and ft.evaluate.__name__ == "evaluate"


def test_core_root_holds_at_most_twelve_modules():
    root = sorted(p.name for p in (ROOT / "jupyter_ft" / "core").glob("*.py"))
    assert len(root) <= 12, root
