"""Where each node of a lineage graph (`Lineage.to_dict()`: datasets -> training job -> model version ->
evaluations -> endpoints) sits when drawn, and the path of every edge.

Pure Python over the plain dict, so every face draws the same picture: the notebook widget (`ft.ui.lineage`) and
the Studio (the `layout` of `GET lineage`) only draw the boxes, paths and column titles this returns.
"""

from __future__ import annotations

from typing import Any

KINDS = ("dataset", "job", "model_version", "evaluation", "endpoint")
COLUMN_TITLES = {"dataset": "Datasets", "job": "Training jobs", "model_version": "Model versions",
                 "evaluation": "Evaluations", "endpoint": "Endpoints"}
NODE_W, NODE_H, COL_GAP, ROW_GAP, TOP = 158, 46, 44, 16, 30


class LineageError(ValueError):
    """A lineage that cannot be laid out: the message says what was given."""


def check(data: dict[str, Any]) -> None:
    """Raise `LineageError` unless `data` has a list of nodes with ids and edges between those nodes."""
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or not all(isinstance(n, dict) and "id" in n for n in nodes):
        raise LineageError("lineage: 'nodes' must be a list of {id, kind, label, details, mlflow_url}")
    ids = {n["id"] for n in nodes}
    for e in data.get("edges") or []:
        if e.get("from") not in ids or e.get("to") not in ids:
            raise LineageError(f"lineage: edge {e.get('from')!r} -> {e.get('to')!r} names a node that is not in "
                               "'nodes'")


def short_label(label: str, kind: Any) -> str:
    """The label without a leading kind word the box already shows ("evaluation eval-1…" -> "eval-1…")."""
    for prefix in (f"train {kind} ", f"{kind} ", f"{str(kind).replace('_', ' ')} "):
        if label.startswith(prefix) and len(label) > len(prefix):
            return label[len(prefix):]
    return label


def layout(data: dict[str, Any]) -> dict[str, Any]:
    """Positions for every node (a column per kind, in pipeline order; unknown kinds last) and an SVG path for every
    edge. Rows in a column follow the mean row of the nodes they connect to on the left (fewer crossings).

    Returns `{root, nodes: [{id, kind, label, short, layer, x, y, w, h, root}], edges: [{from, to, relation, d}],
    titles: [{x, text}], width, height}`: `layer` is the column, `x`/`y` the top-left corner of the box, `d` the
    SVG path of the edge; node details stay in the lineage itself.
    """
    check(data)
    nodes = data["nodes"]
    edges = data.get("edges") or []
    kinds = [k for k in KINDS if any(n.get("kind") == k for n in nodes)]
    kinds += sorted({str(n.get("kind")) for n in nodes} - set(kinds))
    col_of = {k: i for i, k in enumerate(kinds)}
    columns: dict[int, list[dict[str, Any]]] = {i: [] for i in range(len(kinds))}
    for n in nodes:
        columns[col_of[str(n.get("kind"))]].append(n)
    row: dict[str, float] = {}
    neighbours: dict[str, list[str]] = {n["id"]: [] for n in nodes}
    for e in edges:
        neighbours[e["from"]].append(e["to"])
        neighbours[e["to"]].append(e["from"])
    for c in range(len(kinds)):
        def key(n: dict[str, Any]) -> tuple[float, str]:
            left = [row[m] for m in neighbours[n["id"]] if m in row]
            return (sum(left) / len(left) if left else 0.0, str(n.get("label", n["id"])))
        for i, n in enumerate(sorted(columns[c], key=key)):
            row[n["id"]] = i
    height = max((len(col) for col in columns.values()), default=1)
    placed = []
    pos: dict[str, tuple[float, float]] = {}
    for n in nodes:
        c = col_of[str(n.get("kind"))]
        x = c * (NODE_W + COL_GAP)
        # a shorter column is centred against the tallest
        y = TOP + (height - len(columns[c])) * (NODE_H + ROW_GAP) / 2 + row[n["id"]] * (NODE_H + ROW_GAP)
        pos[n["id"]] = (x, y)
        label = str(n.get("label", n["id"]))
        placed.append({"id": n["id"], "kind": n.get("kind"), "label": label, "short": short_label(label, n.get("kind")),
                       "layer": c, "x": x, "y": y, "w": NODE_W, "h": NODE_H, "root": n["id"] == data.get("root")})
    bottom = max((y for _, y in pos.values()), default=TOP) + NODE_H
    drawn, lanes = [], 0
    for e in edges:
        (x1, y1), (x2, y2) = pos[e["from"]], pos[e["to"]]
        span = abs(x2 - x1) / (NODE_W + COL_GAP)
        if span > 1.5:  # skips a column: a lane under the nodes, so no box hides it
            lanes += 1
            lane = bottom + 10 + 12 * lanes
            sx, tx = x1 + NODE_W / 2, x2 + NODE_W / 2
            d = f"M{sx},{y1 + NODE_H} C{sx},{lane} {tx},{lane} {tx},{y2 + NODE_H}"
        elif x1 == x2:  # same column: a loop out to the right
            sx, sy, ty = x1 + NODE_W, y1 + NODE_H / 2, y2 + NODE_H / 2
            d = f"M{sx},{sy} C{sx + COL_GAP * 0.6},{sy} {sx + COL_GAP * 0.6},{ty} {sx},{ty}"
        else:
            sx, tx = (x1 + NODE_W, x2) if x1 < x2 else (x1, x2 + NODE_W)
            sy, ty = y1 + NODE_H / 2, y2 + NODE_H / 2
            mid = (sx + tx) / 2
            d = f"M{sx},{sy} C{mid},{sy} {mid},{ty} {tx},{ty}"
        drawn.append({"from": e["from"], "to": e["to"], "relation": e.get("relation", ""), "d": d})
    titles = [{"x": i * (NODE_W + COL_GAP), "text": COLUMN_TITLES.get(k, k)} for i, k in enumerate(kinds)]
    return {"root": data.get("root"), "nodes": placed, "edges": drawn, "titles": titles,
            "width": max(0, len(kinds) * (NODE_W + COL_GAP) - COL_GAP + 20),
            "height": TOP + height * (NODE_H + ROW_GAP) + 10 + (12 * lanes + 12 if lanes else 0)}
