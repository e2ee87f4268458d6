"""Core's lineage layout (`core/registry/versions/lineage_layout.py`): the one placement of a lineage graph that the notebook
widget and the Studio (through `GET lineage`) both draw."""

from __future__ import annotations

import json

import pytest

from jupyter_ft.core.registry.lineage_layout import COLUMN_TITLES, LineageError, NODE_H, layout
from jupyter_ft.widgets.lineage import LineagePanel

from .test_lineage_widget_browser import LINEAGE


def test_columns_follow_the_pipeline_and_boxes_never_overlap():
    g = layout(LINEAGE)
    at = {n["id"]: n for n in g["nodes"]}
    kinds = ["dataset", "job", "model_version", "evaluation", "endpoint"]
    for n in g["nodes"]:
        assert n["layer"] == kinds.index(n["kind"])
        assert n["x"] + n["w"] <= g["width"] and n["y"] + n["h"] <= g["height"]
    for a in g["nodes"]:
        for b in g["nodes"]:
            if a is not b and a["layer"] == b["layer"]:
                assert abs(a["y"] - b["y"]) >= NODE_H
    assert [t["text"] for t in g["titles"]] == [COLUMN_TITLES[k] for k in kinds]
    assert {(e["from"], e["to"]) for e in g["edges"]} == {(e["from"], e["to"]) for e in LINEAGE["edges"]}
    assert all(e["d"].startswith("M") for e in g["edges"])
    assert at["model_version:capitals-sft@2"]["root"] and not at["endpoint:chat"]["root"]
    # the details stay in the lineage: the layout is geometry and the text a box shows
    assert set(at["endpoint:chat"]) == {"id", "kind", "label", "short", "layer", "x", "y", "w", "h", "root"}
    json.dumps(g)


def test_an_edge_to_a_missing_node_is_named():
    with pytest.raises(LineageError, match="nowhere"):
        layout({**LINEAGE, "edges": [{"from": "endpoint:chat", "to": "nowhere"}]})


def test_the_widget_draws_cores_layout():
    panel = LineagePanel(LINEAGE)
    core = layout(LINEAGE)
    assert [{k: n[k] for k in core["nodes"][0]} for n in panel.graph["nodes"]] == core["nodes"]
    assert panel.graph["edges"] == core["edges"] and panel.graph["titles"] == core["titles"]
    assert panel.details["details"]["kind"] == "adapter" and panel.details["color"]
