"""`ft.ui.lineage("name@3")`: a model's lineage drawn as a small graph (datasets → training job → model version →
evaluations → endpoints), each node clickable: its details beside the graph, with a link to its MLflow page.

The graph is `Lineage.to_dict()` (`core/registry/versions/lineage.py`), laid out by core (`core/registry/versions/lineage_layout.py`:
columns by kind, rows ordered to keep edges short; the Studio draws the same layout) and drawn by a small anywidget
view as SVG. The layout is plain data, so what the browser draws is what `panel.graph` holds; a click sets
`panel.selected` (and `panel.select(id)` does the same from Python), so the details shown and the node selected
agree in both places.
"""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

from jupyter_ft.core.registry.lineage_layout import LineageError, layout

COLORS = {"dataset": "#2e7d32", "job": "#1565c0", "model_version": "#6a1b9a", "evaluation": "#ef6c00",
          "endpoint": "#00838f"}

__all__ = ["LineageError", "LineagePanel", "layout", "lineage"]


def _as_dict(source: Any, ws: Any) -> dict[str, Any]:
    if isinstance(source, dict):
        return source
    if hasattr(source, "to_dict"):
        return source.to_dict()
    if isinstance(source, str):
        from jupyter_ft.core.registry.lineage import lineage

        return (lineage(source, ws=ws) if ws is not None else lineage(source)).to_dict()
    raise LineageError(f"lineage: give a model reference (name@3), a Lineage or its dict, got {type(source).__name__}")


def _graph(data: dict[str, Any]) -> dict[str, Any]:
    """Core's layout with what this view draws beside it: each node's details, MLflow link and colour."""
    graph = layout(data)
    by_id = {n["id"]: n for n in data["nodes"]}
    for n in graph["nodes"]:
        src = by_id[n["id"]]
        n.update(details=src.get("details") or {}, mlflow_url=src.get("mlflow_url"),
                 color=COLORS.get(str(n.get("kind")), "#555"))
    return graph


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
        graph = _graph(data)
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
