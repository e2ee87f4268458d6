"""Lineage: where a model version came from and what used it, from stored references only, never from names.

    dataset name@v --input--> training job --produced--> model version --evaluated_by--> evaluation
                                                                       --served_by----> endpoint

Every link is a reference some record holds: a job's stored spec pins its dataset `name@version`; a version holds
its job id; an evaluation's stored spec holds its pinned `name@N` entries (linked at submission); an endpoint
registers the versions it serves (`register_endpoint_use`). All of it is read from the workspace database and its
indexes, so a lineage answers in milliseconds with thousands of versions and without reaching MLflow.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from jupyter_ft.core.jobs import store as jobstore
from jupyter_ft.core.registry import versions as registry
from jupyter_ft.core.workspace import Workspace


@dataclass
class Node:
    id: str
    kind: str  # dataset | job | model_version | evaluation | endpoint
    label: str
    details: dict[str, Any] = field(default_factory=dict)
    mlflow_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "details": self.details,
                "mlflow_url": self.mlflow_url}


@dataclass
class Lineage:
    root: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[dict[str, str]] = field(default_factory=list)

    _by_id: dict[str, Node] = field(default_factory=dict, repr=False)
    _edge_keys: set[tuple[str, str, str]] = field(default_factory=set, repr=False)

    def node(self, node_id: str) -> Node | None:
        return self._by_id.get(node_id)

    def _add(self, n: Node) -> bool:
        if n.id not in self._by_id:
            self._by_id[n.id] = n
            self.nodes.append(n)
            return True
        return False

    def _edge(self, a: str, b: str, relation: str) -> None:
        if (a, b, relation) not in self._edge_keys:
            self._edge_keys.add((a, b, relation))
            self.edges.append({"from": a, "to": b, "relation": relation})

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "nodes": [n.to_dict() for n in self.nodes], "edges": list(self.edges)}

    def __str__(self) -> str:
        """The chain as indented text, from the sources forward."""
        incoming = {e["to"] for e in self.edges}
        starts = [n.id for n in self.nodes if n.id not in incoming] or [self.root]
        lines: list[str] = []
        seen: set[str] = set()

        def walk(nid: str, depth: int, rel: str | None) -> None:
            n = self.node(nid)
            mark = " *" if nid == self.root else ""
            lines.append("  " * depth + (f"--{rel}--> " if rel else "") + f"[{n.kind}] {n.label}{mark}"
                         + (f"  ({_brief(n)})" if _brief(n) else ""))
            if nid in seen:
                return
            seen.add(nid)
            for e in self.edges:
                if e["from"] == nid:
                    walk(e["to"], depth + 1, e["relation"])

        for s in starts:
            walk(s, 0, None)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Lineage of {self.root}: {len(self.nodes)} nodes>\n{self}"

    def _repr_html_(self) -> str:
        rows = []
        for n in self.nodes:
            label = html.escape(n.label)
            if n.mlflow_url:
                label = f'<a href="{html.escape(n.mlflow_url)}" target="_blank">{label}</a>'
            rows.append(f"<tr><td>{html.escape(n.kind)}</td><td>{label}{' ★' if n.id == self.root else ''}</td>"
                        f"<td>{html.escape(_brief(n))}</td></tr>")
        edges = "".join(f"<li>{html.escape(self._label(e['from']))} → <i>{html.escape(e['relation'])}</i> → "
                        f"{html.escape(self._label(e['to']))}</li>" for e in self.edges)
        return (f"<div><b>Lineage of {html.escape(self.root)}</b><table><tr><th>kind</th><th>node</th><th>details</th>"
                f"</tr>{''.join(rows)}</table><ul>{edges}</ul></div>")

    def _label(self, nid: str) -> str:
        n = self.node(nid)
        return n.label if n else nid


def _brief(n: Node) -> str:
    d = n.details
    if n.kind == "job":
        return f"{d.get('technique')} {d.get('state')}, attempts {d.get('attempt')}/{d.get('max_attempts')}"
    if n.kind == "model_version":
        gguf = f" (from GGUF {d['base_gguf']}, sha256 {str(d.get('base_gguf_sha256', ''))[:12]})" if d.get("base_gguf") else ""
        return f"{d.get('kind')} of {d.get('base_model')}{gguf}" + (f", aliases {', '.join(d['aliases'])}" if d.get("aliases") else "")
    if n.kind == "dataset":
        return f"{d.get('rows', '?')} rows, digest {str(d.get('digest', ''))[:12]}"
    if n.kind == "evaluation":
        ms = d.get("metrics") or []
        return f"{d.get('state')}: " + ", ".join(f"{m['model']} {m['evaluator']}/{m['metric']}={m['value']:.3g}"
                                                 for m in ms[:6] if m.get("value") is not None)
    return ""


def _base_source(tags: dict[str, Any] | None) -> dict[str, str]:
    """The GGUF a version's base was converted from (`base_gguf`, `base_gguf_sha256`, `base_fetched`), from its tags."""
    return {k[len("jupyter_ft."):]: v for k, v in (tags or {}).items()
            if k in ("jupyter_ft.base_gguf", "jupyter_ft.base_gguf_sha256", "jupyter_ft.base_fetched")}


# --- building ---------------------------------------------------------------------------------------------------

class _Builder:
    def __init__(self, ws: Workspace, lin: Lineage):
        self.ws = ws
        self.lin = lin

    def dataset(self, ref: str) -> str:
        nid = f"dataset:{ref}"
        if self.lin.node(nid) is None:
            details: dict[str, Any] = {"ref": ref}
            try:
                from jupyter_ft.core.datasets import catalog

                v = catalog.get(self.ws, ref)
                details.update(rows=v.num_rows, kind=v.kind, format=v.format, digest=v.meta.get("digest"),
                               split=v.split, source=v.source)
            except Exception as exc:  # a version deleted from the catalog is still named by the records
                details["missing"] = str(exc)
            self.lin._add(Node(nid, "dataset", ref, details))
        return nid

    def job(self, rec: jobstore.JobRecord) -> str:
        nid = f"job:{rec.id}"
        if self.lin.node(nid) is None:
            from jupyter_ft.core.tracking import job_run_url

            details = {"id": rec.id, "technique": rec.technique, "state": rec.state, "attempt": rec.attempt,
                       "max_attempts": rec.max_attempts, "error": rec.error, "created_at": rec.created_at,
                       "finished_at": rec.finished_at, "submitted": rec.submitted, "spec": rec.spec,
                       "auto": rec.spec.get("auto") or {}, "resumes": max(0, rec.attempt - 1),
                       "run_id": rec.mlflow_run_id}
            self.lin._add(Node(nid, "job" if rec.kind != "eval" else "evaluation",
                               f"{rec.kind} job {rec.id}", details, job_run_url(rec)))
        return nid

    def version(self, mv: registry.ModelVersion) -> str:
        nid = f"model_version:{mv.ref}"
        if self.lin.node(nid) is None:
            self.lin._add(Node(nid, "model_version", mv.ref, {
                "name": mv.name, "version": mv.version, "kind": mv.kind, "base_model": mv.base_model,
                "base_revision": mv.base_revision, "technique": mv.technique, "job_id": mv.job_id, "run_id": mv.run_id,
                "dataset": mv.dataset, "aliases": mv.aliases, "metrics": mv.metrics, "tags": mv.tags,
                "path": mv.path, **_base_source(mv.tags)}, registry.version_url(mv)))
        return nid

    def evaluation(self, job_id: str) -> str | None:
        try:
            rec = jobstore.get(self.ws, job_id)
        except jobstore.JobNotFound:
            return None
        nid = f"evaluation:{job_id}"
        if self.lin.node(nid) is None:
            from jupyter_ft.core.tracking import job_run_url

            res = _results(self.ws, job_id)
            self.lin._add(Node(nid, "evaluation", f"evaluation {job_id}", {
                "id": job_id, "state": rec.state, "models": rec.spec.get("models"), "dataset": rec.spec.get("dataset"),
                "evaluators": [e.get("name") or e.get("type") for e in rec.spec.get("evaluators", [])],
                "metrics": res.get("metrics", []), "pairwise": res.get("pairwise", [])}, job_run_url(rec)))
            if rec.spec.get("dataset"):
                self.lin._edge(self.dataset(rec.spec["dataset"]), nid, "scored_on")
        return nid

    def endpoint(self, name: str) -> str:
        nid = f"endpoint:{name}"
        self.lin._add(Node(nid, "endpoint", f"endpoint {name}", {"name": name}))
        return nid

    # the chain around one version: backward to its job and data, forward to its evaluations and endpoints
    def around_version(self, mv: registry.ModelVersion) -> str:
        vid = self.version(mv)
        if mv.job_id:
            try:
                rec = jobstore.get(self.ws, mv.job_id)
            except jobstore.JobNotFound:
                rec = None
            if rec is not None:
                jid = self.job(rec)
                self.lin._edge(jid, vid, "produced")
                if rec.spec.get("dataset"):
                    self.lin._edge(self.dataset(rec.spec["dataset"]), jid, "input")
                base = self._base_version(rec.spec.get("model"))
                if base is not None:
                    self.lin._edge(self.version(base), jid, "base_model")
        for kind, target in registry.links(self.ws, mv.ref):
            if kind == "evaluation":
                eid = self.evaluation(target)
                if eid:
                    self.lin._edge(vid, eid, "evaluated_by")
            elif kind == "endpoint":
                self.lin._edge(vid, self.endpoint(target), "served_by")
        return vid

    def _base_version(self, model: str | None) -> registry.ModelVersion | None:
        """A job trained on a registered version's full weights (its `model` is that version's folder)."""
        if not model:
            return None
        row = self.ws.conn.execute("SELECT * FROM model_versions WHERE path = ? LIMIT 1", (model,)).fetchone()
        return registry._row_to_version(self.ws, row, registry._aliases(self.ws, row["name"])) if row else None


def _results(ws: Workspace, job_id: str) -> dict[str, Any]:
    from jupyter_ft.core.evaluate.submit import RESULTS_FILE

    p = ws.job_dir(job_id) / RESULTS_FILE
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return {"metrics": data.get("metrics", []), "pairwise": data.get("pairwise", [])}


def lineage(ref: str | None = None, *, dataset: str | None = None, ws: Workspace | None = None) -> Lineage:
    """The chain around a model version (`name@3`, `name@champion`) or, with a dataset `name@version` (given as
    `dataset=` or as `ref` when no model has that name), every job, version, evaluation and endpoint that used it."""
    if ws is None:
        from jupyter_ft.core.workspace import workspace

        ws = workspace()
    registry.ensure_schema(ws)
    if dataset is None and ref is not None and not registry.is_ref(ws, ref):
        from jupyter_ft.core.datasets import catalog

        name, _ = catalog.parse_ref(ref)
        if catalog.NAME_RE.fullmatch(name) and catalog.has_name(ws, name):
            dataset = ref
        else:
            registry.version_number(ws, ref)  # UnknownModel listing the registered ones
    if dataset is not None:
        return _from_dataset(ws, dataset)
    mv = registry.resolve_indexed(ws, *registry.version_number(ws, ref))
    lin = Lineage(root=f"model_version:{mv.ref}")
    _Builder(ws, lin).around_version(mv)
    return lin


def _from_dataset(ws: Workspace, ref: str) -> Lineage:
    from jupyter_ft.core.datasets import catalog

    try:
        v = catalog.get(ws, ref)
    except Exception as exc:
        raise ValueError(f"dataset {ref!r}: {exc}") from None
    lin = Lineage(root=f"dataset:{v.ref}")
    b = _Builder(ws, lin)
    b.dataset(v.ref)
    rows = ws.conn.execute("SELECT id FROM jobs WHERE json_extract(spec, '$.dataset') = ? ORDER BY created_at",
                           (v.ref,)).fetchall()
    for r in rows:
        rec = jobstore.get(ws, r["id"])
        if rec.kind == "eval":
            b.evaluation(rec.id)
            continue
        jid = b.job(rec)
        lin._edge(f"dataset:{v.ref}", jid, "input")
        for vr in ws.conn.execute("SELECT name, version FROM model_versions WHERE job_id = ?", (rec.id,)).fetchall():
            b.around_version(registry.resolve_indexed(ws, vr["name"], vr["version"]))
    return lin


# --- endpoints (called by `core.deploy.endpoints` when an endpoint starts and stops) -----------------------------------

def register_endpoint_use(ws: Workspace, endpoint_name: str, refs: list[str]) -> None:
    """Record that `endpoint_name` serves these versions (entries that are not registry references are ignored)."""
    for r in refs:
        if registry.is_ref(ws, r):
            registry.link(ws, registry.pin(ws, r), "endpoint", endpoint_name)


def unregister_endpoint_use(ws: Workspace, endpoint_name: str) -> None:
    registry.unlink(ws, "endpoint", endpoint_name)
