"""`ft.ui.lineage("name@3")`: a model's lineage drawn as a small graph (datasets → training job → model version →
evaluations → endpoints), each node clickable: its details beside the graph, with a link to its MLflow page.

The graph is `Lineage.to_dict()` (`core/registry/lineage.py`), laid out here in Python (`layout`: columns
by kind, rows ordered to keep edges short) and drawn by a small anywidget view as SVG. The layout is plain data, so
what the browser draws is what `panel.graph` holds; a click sets `panel.selected` (and `panel.select(id)` does the
same from Python), so the details shown and the node selected agree in both places.
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

KINDS = ("dataset", "job", "model_version", "evaluation", "endpoint")
COLUMN_TITLES = {"dataset": "Datasets", "job": "Training jobs", "model_version": "Model versions",
                 "evaluation": "Evaluations", "endpoint": "Endpoints"}
COLORS = {"dataset": "#2e7d32", "job": "#1565c0", "model_version": "#6a1b9a", "evaluation": "#ef6c00",
          "endpoint": "#00838f"}
NODE_W, NODE_H, COL_GAP, ROW_GAP, TOP = 158, 46, 44, 16, 30


class LineageError(ValueError):
    """A lineage the widget cannot draw: the message says what was given."""


def _as_dict(source: Any, ws: Any) -> dict[str, Any]:
    if isinstance(source, dict):
        return source
    if hasattr(source, "to_dict"):
        return source.to_dict()
    if isinstance(source, str):
        from jupyter_ft.core.registry.lineage import lineage

        return (lineage(source, ws=ws) if ws is not None else lineage(source)).to_dict()
    raise LineageError(f"lineage: give a model reference (name@3), a Lineage or its dict, got {type(source).__name__}")


def _check(data: dict[str, Any]) -> None:
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or not all(isinstance(n, dict) and "id" in n for n in nodes):
        raise LineageError("lineage: 'nodes' must be a list of {id, kind, label, details, mlflow_url}")
    ids = {n["id"] for n in nodes}
    for e in data.get("edges") or []:
        if e.get("from") not in ids or e.get("to") not in ids:
            raise LineageError(f"lineage: edge {e.get('from')!r} -> {e.get('to')!r} names a node that is not in "
                               "'nodes'")


def _short(label: str, kind: Any) -> str:
    """The label without a leading kind word the box already shows ("evaluation eval-1…" -> "eval-1…")."""
    for prefix in (f"train {kind} ", f"{kind} ", f"{str(kind).replace('_', ' ')} "):
        if label.startswith(prefix) and len(label) > len(prefix):
            return label[len(prefix):]
    return label


def layout(data: dict[str, Any]) -> dict[str, Any]:
    """Positions for every node (a column per kind, in pipeline order; unknown kinds last) and an SVG path for every
    edge. Rows in a column follow the mean row of the nodes they connect to on the left (fewer crossings)."""
    _check(data)
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
        placed.append({"id": n["id"], "kind": n.get("kind"), "label": label, "short": _short(label, n.get("kind")),
                       "details": n.get("details") or {}, "mlflow_url": n.get("mlflow_url"),
                       "x": x, "y": y, "w": NODE_W, "h": NODE_H, "color": COLORS.get(str(n.get("kind")), "#555"),
                       "root": n["id"] == data.get("root")})
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
            "width": len(kinds) * (NODE_W + COL_GAP) - COL_GAP + 20,
            "height": TOP + height * (NODE_H + ROW_GAP) + 10 + (12 * lanes + 12 if lanes else 0)}


_ESM = r"""
const NS = "http://www.w3.org/2000/svg";
function el(tag, attrs, parent) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}
function text(v) {
  if (v === null || v === undefined) return "—";
  const s = typeof v === "object" ? JSON.stringify(v) : String(v);
  return s.length > 400 ? s.slice(0, 400) + "…" : s;
}
function fit(t, width) {
  // shorten a label with an ellipsis until it fits its box (measured once drawn; a hidden view measures 0)
  const full = t.textContent;
  let n = full.length;
  while (n > 4 && t.getComputedTextLength() > width) { n -= 1; t.textContent = full.slice(0, n) + "…"; }
}
function table_of(obj, depth) {
  // key/value rows; a nested object folds into a <details> of its own rows (two levels, then JSON)
  const table = document.createElement("table");
  table.className = depth ? "jft-lineage-subtable" : "jft-lineage-table";
  table.style.cssText = "border-collapse:collapse";
  for (const [k, v] of Object.entries(obj)) {
    const tr = document.createElement("tr");
    const th = document.createElement("th"); th.textContent = k;
    th.style.cssText = "text-align:left;vertical-align:top;padding:2px 8px 2px 0;color:#666;font-weight:500;" +
      "white-space:nowrap";
    const td = document.createElement("td");
    td.style.cssText = "padding:2px 0;word-break:break-word";
    if (v && typeof v === "object" && !Array.isArray(v) && depth < 2 && Object.keys(v).length) {
      const fold = document.createElement("details");
      const sum = document.createElement("summary");
      sum.textContent = `${Object.keys(v).length} fields`;
      sum.style.cssText = "cursor:pointer;color:#666";
      fold.append(sum, table_of(v, depth + 1));
      td.appendChild(fold);
    } else if (Array.isArray(v) && v.length && v.every((x) => x && typeof x === "object") && depth < 2) {
      const fold = document.createElement("details");
      const sum = document.createElement("summary");
      sum.textContent = `${v.length} item${v.length === 1 ? "" : "s"}`;
      sum.style.cssText = "cursor:pointer;color:#666";
      fold.appendChild(sum);
      for (const item of v) fold.appendChild(table_of(item, depth + 1));
      td.appendChild(fold);
    } else {
      td.textContent = Array.isArray(v) && v.every((x) => x === null || typeof x !== "object") ?
        (v.length ? v.join(", ") : "—") : text(v);
    }
    tr.append(th, td); table.appendChild(tr);
  }
  return table;
}
function render({ model, el: root }) {
  root.classList.add("jft-lineage");
  const wrap = document.createElement("div");
  wrap.style.cssText = "display:flex;flex-direction:column;gap:8px;font-family:var(--jp-ui-font-family,sans-serif)";
  const graphBox = document.createElement("div");
  graphBox.style.cssText = "overflow-x:auto;max-width:100%";
  const details = document.createElement("div");
  details.className = "jft-lineage-details";
  details.style.cssText = "max-width:760px;border:1px solid var(--jp-border-color2,#ddd);" +
    "border-radius:4px;padding:8px 10px;font-size:12px;color:var(--jp-ui-font-color1,#222)";
  wrap.append(graphBox, details);
  root.appendChild(wrap);

  function draw() {
    const g = model.get("graph");
    const selected = model.get("selected");
    graphBox.innerHTML = "";
    const svg = el("svg", { width: g.width, height: g.height, class: "jft-lineage-graph" }, graphBox);
    const defs = el("defs", {}, svg);
    const marker = el("marker", { id: "jft-arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7,
                                  markerHeight: 7, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#888" }, marker);
    for (const t of g.titles) {
      const tt = el("text", { x: t.x + 4, y: 16, "font-size": 12, "font-weight": 600, fill: "#666",
                              class: "jft-lineage-column" }, svg);
      tt.textContent = t.text;
    }
    for (const e of g.edges) {
      const p = el("path", { d: e.d, fill: "none", stroke: "#999", "stroke-width": 1.5, "marker-end": "url(#jft-arrow)",
                             class: "jft-lineage-edge", "data-from": e.from, "data-to": e.to }, svg);
      el("title", {}, p).textContent = e.relation;
    }
    for (const n of g.nodes) {
      const on = n.id === selected;
      const grp = el("g", { class: "jft-lineage-node" + (on ? " jft-selected" : ""), "data-id": n.id,
                            "data-kind": n.kind, transform: `translate(${n.x},${n.y})`, cursor: "pointer",
                            role: "button", tabindex: 0 }, svg);
      el("rect", { width: n.w, height: n.h, rx: 6, fill: on ? n.color : "#fff", stroke: n.color,
                   "stroke-width": n.root ? 3 : 1.5 }, grp);
      const kind = el("text", { x: 8, y: 15, "font-size": 10, fill: on ? "#fff" : n.color }, grp);
      kind.textContent = n.kind.replace("_", " ") + (n.root ? " · this one" : "");
      const label = el("text", { x: 8, y: 33, "font-size": 12, "font-weight": 600, fill: on ? "#fff" : "#222",
                                 class: "jft-lineage-label" }, grp);
      label.textContent = n.short || n.label;
      fit(label, n.w - 14);
      el("title", {}, grp).textContent = n.label;
      const pick = () => { model.set("selected", n.id); model.save_changes(); };
      grp.addEventListener("click", pick);
      grp.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") pick(); });
    }
    showDetails(g, selected);
  }

  function showDetails(g, id) {
    details.innerHTML = "";
    const n = g.nodes.find((x) => x.id === id);
    if (!n) { details.textContent = "Click a node to see its details."; return; }
    const h = document.createElement("div");
    h.className = "jft-lineage-title";
    h.style.cssText = `font-weight:600;font-size:13px;color:${n.color};margin-bottom:6px`;
    h.textContent = `${n.kind.replace("_", " ")}: ${n.label}`;
    details.appendChild(h);
    if (n.mlflow_url) {
      const a = document.createElement("a");
      a.href = n.mlflow_url; a.target = "_blank"; a.rel = "noopener"; a.className = "jft-lineage-mlflow";
      a.textContent = "Open in MLflow ↗";
      a.style.cssText = "display:inline-block;margin-bottom:6px;color:var(--jp-brand-color1,#1565c0)";
      details.appendChild(a);
    }
    details.appendChild(table_of(n.details || {}, 0));
    const links = g.edges.filter((e) => e.from === id || e.to === id);
    if (links.length) {
      const ul = document.createElement("ul");
      ul.className = "jft-lineage-links";
      ul.style.cssText = "margin:6px 0 0 0;padding-left:16px";
      for (const e of links) {
        const other = g.nodes.find((x) => x.id === (e.from === id ? e.to : e.from));
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "#"; a.textContent = other.label; a.dataset.id = other.id;
        a.addEventListener("click", (ev) => { ev.preventDefault(); model.set("selected", other.id); model.save_changes(); });
        li.append(`${e.from === id ? "→" : "←"} ${e.relation || "linked"}: `, a);
        ul.appendChild(li);
      }
      details.appendChild(ul);
    }
  }

  model.on("change:graph", draw);
  model.on("change:selected", draw);
  draw();
}
export default { render };
"""


class LineagePanel(anywidget.AnyWidget):
    """The lineage graph of a model version (or dataset version): `panel.graph` is what is drawn, `panel.selected`
    the node whose details are shown (the root at first)."""

    _esm = _ESM
    graph = traitlets.Dict().tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)

    def __init__(self, source: Any, ws: Any = None, **kwargs: Any):
        data = _as_dict(source, ws)
        graph = layout(data)
        super().__init__(graph=graph, selected=str(graph.get("root") or ""), **kwargs)
        self.lineage = data

    def select(self, node_id: str) -> None:
        """Show `node_id`'s details (as a click on it does)."""
        ids = [n["id"] for n in self.graph["nodes"]]
        if node_id not in ids:
            raise LineageError(f"lineage: no node {node_id!r}; the nodes are {', '.join(ids)}")
        self.selected = node_id

    @property
    def details(self) -> dict[str, Any]:
        """The selected node as the details panel shows it."""
        return next((n for n in self.graph["nodes"] if n["id"] == self.selected), {})


def lineage(source: Any, ws: Any = None) -> LineagePanel:
    return LineagePanel(source, ws)
