"""The lineage widget in real JupyterLab + Chromium: the graph as drawn (nodes, columns, edges), a click on a node
showing its details and MLflow link (and reaching Python's `panel.selected`), a click on a linked node in the
details panel moving the selection. Screenshots: `$JUPYTER_FT_TEST_ARTIFACTS/<test>/` or `<tmp_path>/screenshots/`.
"""

from __future__ import annotations

import pytest

from .browser import Notebook, lab, notebook, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

# What `Lineage.to_dict()` returns: a version trained on one dataset, scored by two evaluations (one
# on a second dataset), served by an endpoint.
LINEAGE = {
    "root": "model_version:capitals-sft@2",
    "nodes": [
        {"id": "dataset:capitals@61e2b206062e", "kind": "dataset", "label": "capitals@61e2b206062e",
         "details": {"rows": 64, "digest": "61e2b206062e9f0c", "split seed": 42}, "mlflow_url": None},
        {"id": "dataset:qa@0a1b2c3d4e5f", "kind": "dataset", "label": "qa@0a1b2c3d4e5f",
         "details": {"rows": 10}, "mlflow_url": None},
        {"id": "job:sft-1202-0101-ab12", "kind": "job", "label": "sft-1202-0101-ab12",
         "details": {"technique": "sft", "max_steps": 12, "attempts": 1},
         "mlflow_url": "http://127.0.0.1:5000/#/experiments/1/runs/0123abcd"},
        {"id": "model_version:capitals-sft@2", "kind": "model_version", "label": "capitals-sft@2",
         "details": {"base_model": "/models/tiny-llama", "kind": "adapter", "aliases": ["champion"],
                     "metrics": {"train_loss": 1.25, "eval_loss": 1.5},
                     "tags": {"jupyter_ft.package.torch": "2.13.0+cpu", "jupyter_ft.dataset_digest": "61e2b2"}},
         "mlflow_url": "http://127.0.0.1:5000/#/models/capitals-sft/versions/2"},
        {"id": "evaluation:eval-1202-0102-cd34", "kind": "evaluation", "label": "eval-1202-0102-cd34",
         "details": {"exact_match": 0.8, "ci": [0.6, 0.95]},
         "mlflow_url": "http://127.0.0.1:5000/#/experiments/2/runs/4567ef"},
        {"id": "evaluation:eval-1202-0103-ef56", "kind": "evaluation", "label": "eval-1202-0103-ef56",
         "details": {"rouge_l": 0.41}, "mlflow_url": None},
        {"id": "endpoint:chat", "kind": "endpoint", "label": "chat", "details": {"state": "running"},
         "mlflow_url": None},
    ],
    "edges": [
        {"from": "dataset:capitals@61e2b206062e", "to": "job:sft-1202-0101-ab12", "relation": "trained on"},
        {"from": "job:sft-1202-0101-ab12", "to": "model_version:capitals-sft@2", "relation": "produced"},
        {"from": "model_version:capitals-sft@2", "to": "evaluation:eval-1202-0102-cd34", "relation": "evaluated by"},
        {"from": "model_version:capitals-sft@2", "to": "evaluation:eval-1202-0103-ef56", "relation": "evaluated by"},
        {"from": "dataset:qa@0a1b2c3d4e5f", "to": "evaluation:eval-1202-0102-cd34", "relation": "scored on"},
        {"from": "model_version:capitals-sft@2", "to": "endpoint:chat", "relation": "served by"},
    ],
}

DRAWN_JS = r"""root => ({
  nodes: [...root.querySelectorAll('.jft-lineage-node')].map(g => ({id: g.dataset.id, kind: g.dataset.kind,
          label: g.querySelector('.jft-lineage-label').textContent, transform: g.getAttribute('transform'),
          selected: g.classList.contains('jft-selected')})),
  edges: [...root.querySelectorAll('.jft-lineage-edge')].map(e => [e.dataset.from, e.dataset.to]),
  columns: [...root.querySelectorAll('.jft-lineage-column')].map(t => t.textContent),
  title: (root.querySelector('.jft-lineage-title') || {}).textContent,
  mlflow: (root.querySelector('.jft-lineage-mlflow') || {}).href || null,
  rows: [...root.querySelectorAll('.jft-lineage-table > tr, .jft-lineage-table > tbody > tr')]
        .map(r => r.innerText.replace(/\s+/g, ' ').trim()),
})"""


def test_lineage_graph_draws_and_nodes_click_to_details(notebook: Notebook):
    cell = notebook.run(f"import jupyter_ft as ft\npanel = ft.ui.lineage({LINEAGE!r})\npanel")
    out = cell.output
    out.locator(".jft-lineage-node").first.wait_for()
    drawn = out.locator(".jft-lineage").evaluate(DRAWN_JS)
    assert drawn["columns"] == ["Datasets", "Training jobs", "Model versions", "Evaluations", "Endpoints"]
    assert sorted(n["id"] for n in drawn["nodes"]) == sorted(n["id"] for n in LINEAGE["nodes"])
    assert sorted(drawn["edges"]) == sorted([e["from"], e["to"]] for e in LINEAGE["edges"])
    # drawn where Python laid it out
    laid = notebook.run("import json; print(json.dumps({n['id']: [n['x'], n['y']] for n in panel.graph['nodes']}))")
    import json

    where = json.loads(laid.text)
    for n in drawn["nodes"]:
        x, y = where[n["id"]]
        assert n["transform"] == f"translate({x:g},{y:g})", n
    # the version itself is selected first: its details and MLflow link
    assert [n["id"] for n in drawn["nodes"] if n["selected"]] == [LINEAGE["root"]]
    assert drawn["title"] == "model version: capitals-sft@2"
    assert drawn["mlflow"] == "http://127.0.0.1:5000/#/models/capitals-sft/versions/2"
    assert "base_model /models/tiny-llama" in drawn["rows"] and "aliases champion" in drawn["rows"]
    # nested details fold: the metrics open on a click, one row per metric
    metrics = out.locator(".jft-lineage-table details").first
    assert metrics.locator("summary").inner_text() == "2 fields"
    metrics.locator("summary").click()
    assert metrics.locator(".jft-lineage-subtable tr").all_inner_texts() == ["train_loss\t1.25", "eval_loss\t1.5"]
    notebook.screenshot(cell, "lineage-version")

    # a click on an evaluation: its details, its MLflow run, and Python sees the selection
    out.locator('.jft-lineage-node[data-id="evaluation:eval-1202-0102-cd34"]').click()
    out.locator(".jft-lineage-title", has_text="evaluation: eval-1202-0102-cd34").wait_for()
    drawn = out.locator(".jft-lineage").evaluate(DRAWN_JS)
    assert drawn["mlflow"] == "http://127.0.0.1:5000/#/experiments/2/runs/4567ef"
    assert "exact_match 0.8" in drawn["rows"] and "ci 0.6, 0.95" in drawn["rows"]
    links = out.locator(".jft-lineage-links li").all_inner_texts()
    assert sorted(links) == ["← evaluated by: capitals-sft@2", "← scored on: qa@0a1b2c3d4e5f"]
    assert notebook.run("print(panel.selected)").text.strip() == "evaluation:eval-1202-0102-cd34"
    notebook.screenshot(cell, "lineage-evaluation")

    # the details panel's links move along the graph; a node without an MLflow page shows no link
    out.locator(".jft-lineage-links a", has_text="qa@0a1b2c3d4e5f").click()
    out.locator(".jft-lineage-title", has_text="dataset: qa@0a1b2c3d4e5f").wait_for()
    assert out.locator(".jft-lineage-mlflow").count() == 0
    # and Python moves it too
    notebook.run("panel.select('job:sft-1202-0101-ab12')")
    out.locator(".jft-lineage-title", has_text="job: sft-1202-0101-ab12").wait_for()
    assert out.locator('.jft-lineage-node.jft-selected').get_attribute("data-id") == "job:sft-1202-0101-ab12"
    notebook.screenshot(cell, "lineage-job")
